"""The three faces of a report: the terminal table, JSON with every figure, and the HTML page."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import parity_graphs as graphs
import pytest

from toolkit import verify_parity
from toolkit.parity.compare import compare_output
from toolkit.parity.html import render_html
from toolkit.parity.report import SCHEMA_VERSION

# Screenshots of the rendered report are kept here after the run (TOOLKIT_TEST_ARTIFACTS overrides).
SCREENSHOT_DIRECTORY = Path(
    os.environ.get("TOOLKIT_TEST_ARTIFACTS", Path(tempfile.gettempdir()) / "toolkit-test-artifacts")
)


@pytest.fixture(scope="module")
def failing_report():
    model = graphs.mlp()
    return verify_parity(model, [model, graphs.perturb_weight(model, "w2")], samples=2)


def test_terminal_output_has_the_verdict_and_the_divergence_path(failing_report):
    text = str(failing_report)
    assert "FAIL" in text and "matmul_2" in text and "Divergence path" in text
    assert text.strip().splitlines()[-1].startswith("FAIL: 1 of 2 candidate(s)")


def test_json_holds_every_figure_in_the_documented_schema(failing_report, repository):
    record = json.loads(failing_report.to_json())
    assert record["schema_version"] == SCHEMA_VERSION
    assert set(record) >= {"passed", "verdict", "seconds", "settings", "reference", "candidates"}
    good, bad = record["candidates"]
    assert good["passed"] and good["divergence"] is None
    assert not bad["passed"] and bad["divergence"]["node"] == "matmul_2"
    assert len(bad["runs"]) == 4  # two batch sizes x two samples
    output = bad["runs"][0]["outputs"][0]
    for figure in (
        "max_abs",
        "max_rel",
        "mean_abs",
        "cosine",
        "outside_share",
        "nan_mismatch",
        "kind",
        "shape_mismatch",
        "dtype_mismatch",
    ):
        assert figure in output
    documented = (repository / "docs" / "parity-json-schema.md").read_text()
    for key in [*record, *bad, *output, *bad["divergence"], *bad["divergence"]["path"][0]]:
        assert f"`{key}`" in documented, f"{key} is not documented"


def test_shape_dtype_and_nan_mismatches_are_reported_not_raised():
    assert compare_output("y", np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32)).kind == "shape"
    record = compare_output("y", np.zeros(3, np.float32), np.zeros(3, np.float16)).to_dict()
    assert record["passed"] and record["dtype_mismatch"]
    nan = compare_output("y", np.float32([1, np.nan]), np.float32([1, 2]))
    assert nan.kind == "nonfinite" and "NaN" in nan.problem
    infinite = compare_output("y", np.float32([1, 2]), np.float32([1, np.inf]))
    assert infinite.kind == "nonfinite" and infinite.nan_mismatch == 1


def test_html_is_self_contained_with_plots_and_the_path(failing_report):
    page = render_html(failing_report)
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened
    images = page.count("data:image/png;base64,")
    assert images >= 2  # the failing output (the bitwise-equal one has no plot), and the growth plot
    assert "bitwise equal" in page
    assert "matmul_2" in page and "Error growth" in page
    first = page.split("data:image/png;base64,")[1].split("'")[0]
    assert base64.b64decode(first).startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def bert_report(tmp_path_factory):
    """A failing BERT report with the long names real models have: module paths and deep file paths."""
    pytest.importorskip("transformers")
    import toolkit
    from scripts.parity_bert_case import broken_copy, build
    from toolkit.io import save_onnx

    wrapper, input_ids = build(layers=2)
    exported = toolkit.convert(wrapper, example_inputs=(input_ids,))
    folder = tmp_path_factory.mktemp("parity") / "exported-models-of-a-project-with-a-rather-long-name"
    folder.mkdir()
    reference, candidate = folder / "bert_reference.onnx", folder / "bert_with_a_scaled_query_weight.onnx"
    save_onnx(exported, reference)
    save_onnx(broken_copy(exported, "encoder.layer.1.attention.self.query", amount=0.2), candidate)
    return verify_parity(str(reference), [str(candidate)], samples=2, batch_sizes=[1, 8])


def test_runs_are_spelled_out_and_summarised(bert_report):
    text = str(bert_report)
    assert "4 runs: batch 1, 8 × seeds 0-1" in text and "1,1,8,8" not in text
    assert "seed 1, batch 8" in text  # a failing output lists its runs
    assert "encoder.layer.1.attention.self.query (Linear)" in text
    assert "--verbose lists them" in text and "per node" not in text
    verbose = bert_report.renderables(verbose=True)
    assert any("per node" in str(getattr(item, "title", "")) for item in verbose)


def test_user_inputs_are_named_as_such(tmp_path):
    model = graphs.mlp()
    inputs = np.random.default_rng(0).standard_normal((2, graphs.FEATURES)).astype(np.float32)
    report = verify_parity(model, graphs.perturb_weight(model, "w2"), inputs=inputs)
    assert report.settings["user_inputs"]
    assert "user inputs" in str(report) and "user inputs" in render_html(report)


def test_html_holds_the_layer_path_with_the_nodes_behind_details(bert_report):
    page = render_html(bert_report)
    divergence = bert_report.candidates[0].divergence
    assert "by source layer" in page and "<details><summary>Per-node path" in page
    layer_table, node_table = page.split("<details>", 1)
    shown = {name for layer in divergence.layers for name in (layer.first_node, layer.last_node)}
    collapsed = [step.node for step in divergence.path if step.node not in shown]
    assert collapsed and not any(f">{node}<" in layer_table for node in collapsed)
    assert all(step.node in node_table for step in divergence.path)
    # Long names are shortened in the middle, the full one kept as the cell's title.
    label = bert_report.candidates[0].label
    assert f"title='{label}'" in page and "…" in page


def _chromium() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip(
            "chromium is not installed (make browser installs it); the page is checked without it above"
        )
    return chromium


def _chromium_run(chromium: str, profile: Path, width: int, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},2400",
            "--virtual-time-budget=10000",  # run the load handler before dumping or shooting
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# Written by the page once loaded: how wide the document is against the window.
MEASURE = (
    "<script>window.addEventListener('load', () => { document.title = 'measured ' + "
    "document.documentElement.scrollWidth + ' ' + window.innerWidth; });</script></body>"
)


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 800])
def test_the_html_page_fits_the_window_in_headless_chromium(bert_report, tmp_path, width):
    chromium = _chromium()
    page = render_html(bert_report)
    measured = tmp_path / "measured.html"
    measured.write_text(page.replace("</body>", MEASURE), encoding="utf-8")
    dump = _chromium_run(chromium, tmp_path / "profile", width, "--dump-dom", measured.as_uri())
    found = re.search(r"<title>measured (\d+) (\d+)</title>", dump.stdout)
    assert found, f"chromium printed no measurement: {dump.stderr[-500:]}"
    scroll_width, inner_width = map(int, found.groups())
    assert inner_width == width
    assert scroll_width <= inner_width, f"the page is {scroll_width} px wide in a {inner_width} px window"

    # The screenshot stays behind as a test artefact, for a person to look at.
    SCREENSHOT_DIRECTORY.mkdir(parents=True, exist_ok=True)
    screenshot = SCREENSHOT_DIRECTORY / f"parity-report-{width}.png"
    screenshot.unlink(missing_ok=True)
    shown = tmp_path / "report.html"
    shown.write_text(page, encoding="utf-8")
    _chromium_run(chromium, tmp_path / "profile", width, f"--screenshot={screenshot}", shown.as_uri())
    assert screenshot.exists() and screenshot.stat().st_size > 20_000  # a blank page compresses to a few KB
    from matplotlib import image

    pixels = image.imread(str(screenshot))
    assert pixels.shape[1] == width
    # The red FAIL banner is drawn near the top: some pixels are strongly red.
    top = pixels[:300, :, :3]
    assert ((top[..., 0] > 0.55) & (top[..., 1] < 0.2) & (top[..., 2] < 0.2)).any()


def test_a_varied_axis_lists_shapes_instead_of_a_false_cross_product():
    """batch 1, batch 3 and (batch 1, sequence=3) are three runs, not `batch 1, 3 × sequence=3`."""
    from toolkit.parity.report import RunComparison, runs_summary

    runs = [
        RunComparison(batch_size=1, seed=0, outputs=[]),
        RunComparison(batch_size=3, seed=0, outputs=[]),
        RunComparison(batch_size=1, seed=0, outputs=[], dims={"sequence": 3}),
    ]
    assert runs_summary(runs) == "3 runs: batch 1 · batch 3 · batch 1 with sequence=3, seed 0"
    crossed = [RunComparison(batch_size=b, seed=s, outputs=[]) for b in (1, 8) for s in (0, 1)]
    assert runs_summary(crossed) == "4 runs: batch 1, 8 × seeds 0-1"

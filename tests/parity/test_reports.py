"""The three faces of a report: the terminal table, JSON with every figure, and the HTML page."""

from __future__ import annotations

import base64
import json
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

SCREENSHOT_DIRECTORY = Path(tempfile.gettempdir()) / "toolkit-parity-screenshot"


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


def test_the_html_page_renders_in_headless_chromium(failing_report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip(
            "chromium is not installed (apt-get install -y chromium); the page is checked without it above"
        )
    page = tmp_path / "report.html"
    page.write_text(render_html(failing_report), encoding="utf-8")
    SCREENSHOT_DIRECTORY.mkdir(exist_ok=True)
    screenshot = SCREENSHOT_DIRECTORY / "parity-report.png"
    screenshot.unlink(missing_ok=True)
    subprocess.run(
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
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={screenshot}",
            "--window-size=1280,2000",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert screenshot.exists() and screenshot.stat().st_size > 20_000  # a blank page compresses to a few KB
    from matplotlib import image

    pixels = image.imread(str(screenshot))
    # The red FAIL banner is drawn near the top: some pixels are strongly red.
    top = pixels[:300, :, :3]
    assert ((top[..., 0] > 0.55) & (top[..., 1] < 0.2) & (top[..., 2] < 0.2)).any()

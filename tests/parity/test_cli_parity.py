"""`toolkit verify-parity` as CI runs it: exit codes, report files, and bad inputs without tracebacks."""

from __future__ import annotations

import json

import numpy as np
import onnx
import parity_graphs as graphs
import pytest
from click.testing import CliRunner

from toolkit.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("parity_cli")
    model = graphs.mlp()
    paths = {"good": directory / "mlp.onnx", "broken": directory / "broken.onnx"}
    onnx.save(model, str(paths["good"]))
    onnx.save(graphs.perturb_weight(model, "w2"), str(paths["broken"]))
    nchw, nhwc = graphs.nhwc_twin()
    paths["nchw"], paths["nhwc"] = directory / "nchw.onnx", directory / "nhwc.onnx"
    onnx.save(nchw, str(paths["nchw"]))
    onnx.save(nhwc, str(paths["nhwc"]))
    return paths


def _one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("toolkit: error:"), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_pass_is_exit_0_and_failure_exit_1_with_reports(models, tmp_path):
    assert invoke("verify-parity", models["good"], models["good"]).exit_code == 0
    json_path, html_path = tmp_path / "report.json", tmp_path / "report.html"
    result = invoke(
        "verify-parity",
        models["good"],
        models["good"],
        models["broken"],
        "--json",
        json_path,
        "--html",
        html_path,
    )
    assert result.exit_code == 1, result.output
    assert 'first divergence at node "matmul_2"' in " ".join(result.output.split())
    record = json.loads(json_path.read_text())
    assert [c["passed"] for c in record["candidates"]] == [True, False]
    assert "matmul_2" in html_path.read_text()


def test_no_localize_and_layout_options(models):
    result = invoke("verify-parity", models["good"], models["broken"], "--no-localize")
    assert result.exit_code == 1 and "Divergence path" not in result.output
    result = invoke(
        "verify-parity",
        models["nchw"],
        models["nhwc"],
        "--input-perm",
        "image:0,2,3,1",
        "--output-perm",
        "features:0,2,3,1",
    )
    assert result.exit_code == 0, result.output
    assert "input image permuted 0,2,3,1" in result.output


@pytest.mark.parametrize(
    "option, fragment",
    [
        (("--input-perm", "image:0,1,1"), "--input-perm"),
        (("--dim-sizes", "sequence"), "--dim-sizes"),
        (("--dim-sizes", "sequence=4"), "sequence"),
        (("--tol", "logits:x:1"), "--tol"),
        (("--tol", "nope:1e-3:1e-3"), "unknown output"),
    ],
)
def test_bad_options_are_usage_errors(models, option, fragment):
    _one_line_error(invoke("verify-parity", models["good"], models["good"], *option), fragment)


def test_bad_npz_files_are_one_line_input_errors(models, tmp_path):
    width = graphs.FEATURES
    cases = {
        "missing": {},
        "misnamed": {"features": np.zeros((2, width), np.float32)},
        "shape": {"x": np.zeros((2, width + 1), np.float32)},
        "dtype": {"x": np.zeros((2, width), np.float64)},
    }
    expected = {
        "missing": "missing input(s) x",
        "misnamed": "it has features",
        "shape": "shape",
        "dtype": "dtype",
    }
    for case, arrays in cases.items():
        path = tmp_path / f"{case}.npz"
        np.savez(path, **arrays) if arrays else np.savez(path, unused=np.zeros(1))
        result = invoke("verify-parity", models["good"], models["good"], "--inputs", path)
        _one_line_error(result, expected[case] if case != "missing" else "missing input(s) x")


def test_torch_reference_rejects_user_data_of_the_wrong_dtype(tmp_path):
    path = tmp_path / "float64.npz"
    np.savez(path, features=np.zeros((2, 32), np.float64))  # models/torch_mlp.py declares INPUT_NAMES
    onnx_path = tmp_path / "unused.onnx"
    onnx.save(graphs.mlp(), str(onnx_path))
    result = invoke("verify-parity", "models/torch_mlp.py:build", onnx_path, "--inputs", path)
    _one_line_error(result, "float64", "float32")


def test_nan_in_the_reference_is_reported_clearly(models, tmp_path):
    data = np.random.default_rng(0).standard_normal((2, graphs.FEATURES)).astype(np.float32)
    data[0, 3] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, x=data)
    json_path = tmp_path / "nan.json"
    result = invoke("verify-parity", models["good"], models["good"], "--inputs", path, "--json", json_path)
    assert result.exit_code == 0, result.output  # NaN where the reference has NaN: the same computation
    assert "NaN/Inf" in result.output
    output = json.loads(json_path.read_text())["candidates"][0]["runs"][0]["outputs"][0]
    assert output["reference_nonfinite"] > 0 and output["nan_mismatch"] == 0

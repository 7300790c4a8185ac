"""The CLI end to end: click's runner for each path and bad input, one real subprocess, lazy imports."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import numpy_helper

from toolkit.cli import cli

REPOSITORY = Path(__file__).resolve().parent.parent
TORCH_MLP = f"{REPOSITORY}/models/torch_mlp.py:build"
TORCH_CNN = f"{REPOSITORY}/models/torch_cnn.py:build"
KERAS_CNN = f"{REPOSITORY}/models/keras_cnn.py:build"


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def mlp_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("mlp") / "mlp.onnx"
    result = invoke("convert", TORCH_MLP, "-o", str(path))
    assert result.exit_code == 0, result.output
    return path


def test_convert_writes_a_checked_self_contained_model(mlp_onnx):
    assert [p.name for p in mlp_onnx.parent.iterdir()] == ["mlp.onnx"]  # no stray .data or temporary file
    model = onnx.load(str(mlp_onnx))
    onnx.checker.check_model(model, full_check=True)
    tags = {e.key: e.value for e in model.metadata_props}
    assert tags["toolkit.exporter"].startswith("torch.onnx")
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch


def test_verify_parity_passes_and_writes_json(mlp_onnx, tmp_path):
    report_path = tmp_path / "report.json"
    result = invoke("verify-parity", TORCH_MLP, str(mlp_onnx), "--json", str(report_path), "--samples", "2")
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output
    report = json.loads(report_path.read_text())
    assert report["passed"] is True
    runs = report["candidates"][0]["runs"]
    assert len(runs) == 4  # two batch sizes (the batch is dynamic) x two samples
    assert len({run["batch_size"] for run in runs}) == 2


def test_a_perturbed_model_fails_parity_with_exit_1(mlp_onnx, tmp_path):
    model = onnx.load(str(mlp_onnx))
    weight = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    array = numpy_helper.to_array(weight) * 1.1
    weight.CopyFrom(numpy_helper.from_array(array, weight.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    result = invoke("verify-parity", TORCH_MLP, str(broken))
    assert result.exit_code == 1
    assert "FAIL" in result.output


def test_inspect_lists_inputs_operators_and_parameters(mlp_onnx):
    result = invoke("inspect", str(mlp_onnx), "--json")
    assert result.exit_code == 0
    summary = json.loads(result.output)
    assert summary["inputs"][0]["shape"][0] not in (None, 0)
    assert summary["parameters"] > 1000 and "Gemm" in summary["operators"] or "MatMul" in summary["operators"]


def test_keras_source_converts_and_matches(tmp_path):
    path = tmp_path / "cnn.onnx"
    assert invoke("convert", KERAS_CNN, "-o", str(path)).exit_code == 0
    result = invoke("verify-parity", KERAS_CNN, str(path))
    assert result.exit_code == 0, result.output


def _one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("toolkit: error:"), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_path(tmp_path):
    _one_line_error(
        invoke("convert", str(tmp_path / "absent.onnx"), "-o", str(tmp_path / "x.onnx")),
        "absent.onnx",
        "no such file",
    )


def test_corrupt_and_truncated_onnx(tmp_path, mlp_onnx):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(mlp_onnx.read_bytes()[:200])
    _one_line_error(invoke("inspect", str(truncated)), "truncated.onnx", "truncated")
    _one_line_error(invoke("verify-parity", TORCH_MLP, str(truncated)), "truncated.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07garbage" * 50)
    _one_line_error(invoke("inspect", str(corrupt)), "corrupt.onnx")


def test_factory_that_raises_or_returns_the_wrong_type(tmp_path):
    factory_file = tmp_path / "factories.py"
    factory_file.write_text(
        "def broken():\n    raise ValueError('weights missing')\n\ndef wrong():\n    return 42\n"
    )
    output = tmp_path / "out.onnx"
    _one_line_error(
        invoke("convert", f"{factory_file}:broken", "-o", str(output)),
        "factories.py:broken",
        "weights missing",
    )
    _one_line_error(
        invoke("convert", f"{factory_file}:wrong", "-o", str(output)), "returned a int, not a model"
    )
    _one_line_error(invoke("convert", f"{factory_file}:absent", "-o", str(output)), "no callable 'absent'")
    assert not output.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.onnx")]  # no temporary left


def test_wrong_input_shape_and_names(tmp_path, mlp_onnx):
    wrong_shape = tmp_path / "wrong.npz"
    np.savez(wrong_shape, x=np.zeros((2, 3), np.float32))
    result = invoke("verify-parity", str(mlp_onnx), str(mlp_onnx), "--inputs", str(wrong_shape))
    _one_line_error(result, "wrong.npz")
    _one_line_error(
        invoke("convert", TORCH_MLP, "-o", str(tmp_path / "a.onnx"), "--input-shape", "x:1xfoo"),
        "--input-shape",
    )


def test_input_shape_the_model_cannot_take(tmp_path):
    output = tmp_path / "cnn.onnx"
    result = invoke("convert", TORCH_CNN, "-o", str(output), "--input-shape", "image:1x3x28x28")
    _one_line_error(result, "torch_cnn.py:build", "float32[1, 3, 28, 28]", "check --input-shape")
    assert not output.exists()


def test_debug_shows_the_traceback(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["--debug", "inspect", str(tmp_path / "absent.onnx")])
    assert result.exception is not None  # re-raised for the traceback instead of one line


def test_help_and_inspect_import_no_framework(mlp_onnx):
    probe = (
        "import sys, time; t = time.perf_counter(); from toolkit.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]\n"
        "print('HEAVY', heavy, round(time.perf_counter() - t, 3))\n"
    )
    for args in (["--help"], ["inspect", str(mlp_onnx)]):
        started = time.perf_counter()
        output = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
        ).stdout
        wall = time.perf_counter() - started
        assert "HEAVY [] " in output, output
        print(f"toolkit {' '.join(args[:1])}: {wall:.2f} s wall including interpreter start")


def test_real_subprocess_round_trip(tmp_path):
    toolkit = [sys.executable, "-m", "toolkit.cli"]
    path = tmp_path / "cnn.onnx"
    converted = subprocess.run(
        [*toolkit, "convert", TORCH_CNN, "-o", str(path)], capture_output=True, text=True
    )
    assert converted.returncode == 0, converted.stderr
    assert "torch.onnx" in converted.stdout
    checked = subprocess.run(
        [*toolkit, "verify-parity", TORCH_CNN, str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    missing = subprocess.run(
        [*toolkit, "inspect", str(tmp_path / "nope.onnx")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr


def test_the_core_works_without_any_framework(mlp_onnx, tmp_path):
    """inspect and ONNX-vs-ONNX parity need only onnx, onnxruntime, numpy, click and rich."""
    probe = (
        "import sys\n"
        "class Absent:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'tensorflow', 'keras', 'tf2onnx', 'onnxscript', 'fastapi'):\n"
        "            raise ImportError(f'{name} is not installed')\n"
        "sys.meta_path.insert(0, Absent())\n"
        "from toolkit.cli import main\n"
        "for args in (['inspect', sys.argv[1]], ['verify-parity', sys.argv[1], sys.argv[1]]):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as done:\n"
        "        assert done.code in (0, None), (args, done.code)\n"
        "print('CORE OK')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(mlp_onnx)], capture_output=True, text=True)
    assert "CORE OK" in result.stdout, result.stdout + result.stderr


def test_tensorflow_start_up_chatter_stays_off_the_terminal(tmp_path):
    path = tmp_path / "cnn.onnx"
    result = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "convert", KERAS_CNN, "-o", str(path)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # no absl/oneDNN notices around the one summary line
    assert result.stdout.startswith(f"wrote {path}")

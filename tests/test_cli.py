"""The CLI end to end: click's runner for each path and bad input, one real subprocess, lazy imports."""

import json
import os
import shutil
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


# --------------------------------------------------------------------------- issue 16: bad inputs never lose data

sys.path.insert(0, str(REPOSITORY / "scripts"))
import fuzz_models  # noqa: E402


@pytest.fixture
def small_onnx(tmp_path):
    path = tmp_path / "cnn.onnx"
    onnx.save(fuzz_models.cnn(), str(path))
    return path


def _leftovers(directory):
    return sorted(p.name for p in Path(directory).rglob(".*.tmp"))


def _directory_with_data(path):
    path.mkdir()
    (path / "important.txt").write_text("keep")
    return path


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["convert", "{model}", "-o", "{dir}"], "is a directory"),
        (["convert", "{model}", "--to", "tensorflow", "-o", "{dir}"], "toolkit did not write"),
        (["verify-parity", "{model}", "{model}", "--json", "{dir}"], "is a directory"),
        (["verify-parity", "{model}", "{model}", "--html", "{dir}"], "is a directory"),
    ],
    ids=["onnx", "saved_model", "json", "html"],
)
def test_an_existing_directory_is_never_replaced(tmp_path, small_onnx, args, fragment):
    kept = _directory_with_data(tmp_path / "d")
    result = invoke(*(a.format(model=small_onnx, dir=kept) for a in args))
    _one_line_error(result, str(kept), fragment)
    assert (kept / "important.txt").read_text() == "keep"
    assert _leftovers(tmp_path) == []


def test_the_current_directory_is_not_an_output(tmp_path, small_onnx, monkeypatch):
    here = _directory_with_data(tmp_path / "here")
    monkeypatch.chdir(here)
    _one_line_error(invoke("convert", str(small_onnx), "-o", "."), "is a directory")
    assert sorted(p.name for p in here.iterdir()) == ["important.txt"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["verify-parity", "{model}", "{model}", "--json", "{model}"], "that is the input"),
        (["verify-parity", "{model}", "{model}", "--html", "{dir}/./cnn.onnx"], "that is the input"),
        (["convert", "{model}", "-o", "{model}"], "that is the input"),
        (["convert", "{model}", "--to", "tensorflow", "-o", "{model}"], "that is the input"),
        (["convert", "{model}", "--to", "tensorflow", "-o", "{dir}/x.onnx"], "writes a SavedModel directory"),
        (["convert", "{model}", "--to", "tensorflow", "-o", "{dir}"], "that is the input"),
        (["convert", "{model}", "--to", "torch", "-o", "{dir}/x.onnx"], "writes .pt2 or .py files"),
        (["convert", "{model}", "-o", "{dir}/x.pt2"], "writes .onnx files"),
    ],
    ids=[
        "json_is_input",
        "html_is_input",
        "onnx_is_input",
        "saved_model_is_input",
        "saved_model_suffix",
        "dir_holds_input",
        "torch_suffix",
        "onnx_suffix",
    ],
)
def test_an_output_is_never_an_input_and_fits_the_target(tmp_path, small_onnx, args, fragment):
    before = small_onnx.read_bytes()
    result = invoke(*(a.format(model=small_onnx, dir=tmp_path) for a in args))
    _one_line_error(result, fragment)
    assert small_onnx.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.onnx"]


def test_an_exported_program_is_not_overwritten_by_its_own_conversion(tmp_path, small_onnx):
    program = tmp_path / "p.pt2"
    assert invoke("convert", str(small_onnx), "--to", "torch", "-o", str(program)).exit_code == 0
    before = program.read_bytes()
    _one_line_error(invoke("convert", str(program), "-o", str(program)), "that is the input")
    _one_line_error(invoke("convert", str(program), "-o", str(tmp_path / "q.pt2")), "writes .onnx files")
    _one_line_error(invoke("convert", str(program), "--to", "torch", "-o", str(program)), "that is the input")
    assert program.read_bytes() == before


@pytest.mark.parametrize(
    "output, fragment",
    [("{dir}/a_file/x.onnx", "is a file, not a directory"), ("/proc/x.onnx", "cannot write in /proc")],
    ids=["parent_is_a_file", "proc"],
)
def test_unwritable_outputs_are_exit_2_before_any_work(tmp_path, small_onnx, output, fragment):
    (tmp_path / "a_file").write_text("keep")
    target = output.format(dir=tmp_path)
    _one_line_error(invoke("convert", str(small_onnx), "-o", target), fragment)
    result = invoke("verify-parity", str(small_onnx), str(small_onnx), "--json", target)
    _one_line_error(result, fragment)  # refused before the run: no PASS line, then exit 2
    assert (tmp_path / "a_file").read_text() == "keep"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to run as nobody")
def test_a_read_only_directory_is_refused_before_the_run(small_onnx):
    """Run as nobody (root ignores permissions): the probe's `--json ro/r.json` after a PASS exited 1."""
    import tempfile

    place = Path(tempfile.mkdtemp(prefix="toolkit-readonly."))  # pytest's tmp_path is private to root
    try:
        _check_read_only_place(place, small_onnx)
    finally:
        shutil.rmtree(place)


def _check_read_only_place(place, small_onnx):
    os.chmod(place, 0o755)
    model = place / "cnn.onnx"
    shutil.copy(small_onnx, model)
    os.chmod(model, 0o644)
    unreadable = place / "secret.onnx"
    shutil.copy(small_onnx, unreadable)
    os.chmod(unreadable, 0o600)
    small_onnx = model
    tmp_path = place
    readonly = tmp_path / "ro"
    readonly.mkdir(mode=0o755)
    nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        sys.executable,
        "-m",
        "toolkit.cli",
    ]
    for args in (
        ["verify-parity", str(small_onnx), str(small_onnx), "--json", str(readonly / "r.json")],
        ["convert", str(small_onnx), "-o", str(readonly / "x.onnx")],
    ):
        result = subprocess.run([*nobody, *args], capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "PASS" not in result.stdout and result.stderr.count("\n") == 1, result.stderr
        assert "cannot write in" in result.stderr and "Permission denied" in result.stderr
    assert list(readonly.iterdir()) == []
    writable = tmp_path / "writable"
    writable.mkdir()
    os.chmod(writable, 0o777)
    result = subprocess.run(
        [*nobody, "convert", str(unreadable), "-o", str(writable / "y.onnx")], capture_output=True, text=True
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "secret.onnx" in result.stderr and "Permission denied" in result.stderr


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (fuzz_models.cyclic, 'node "conv" (Conv) is on a cycle'),
        (fuzz_models.self_loop, 'node "relu" (Relu) reads its own output'),
        (fuzz_models.undefined_tensor, 'input "ghost" is not a graph input'),
        (fuzz_models.wrong_initializer_dims, 'initializer "conv.weight" declares dims'),
        (fuzz_models.no_outputs, "no outputs"),
        (lambda model: fuzz_models.opset(model, 99), "opset 99"),
    ],
    ids=["cycle", "self_loop", "undefined", "initializer_dims", "no_outputs", "opset_99"],
)
def test_malformed_models_are_refused_by_every_target(tmp_path, mutate, fragment):
    bad = tmp_path / "bad.onnx"
    onnx.save(mutate(fuzz_models.cnn()), str(bad))
    for target, output in (("onnx", "y.onnx"), ("torch", "y.pt2"), ("tensorflow", "y_saved_model")):
        result = invoke("convert", str(bad), "--to", target, "-o", str(tmp_path / output))
        _one_line_error(result, "bad.onnx", fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (
            ["convert", "{model}", "-o", "{dir}/o.onnx", "--opset", "99"],
            "--opset 99: toolkit writes opsets 7 to",
        ),
        (["convert", "{model}", "-o", "{dir}/o.onnx", "--opset", "3"], "--opset 3"),
        (["verify-parity", "{model}", "{model}", "--rtol", "-1"], "--rtol -1.0: a tolerance must be"),
        (["verify-parity", "{model}", "{model}", "--atol", "-1e-3"], "--atol -0.001"),
        (["verify-parity", "{model}", "{model}", "--atol", "nan"], "--atol nan"),
        (["verify-parity", "{model}", "{model}", "--tol", "logits:-1:0"], "--tol logits:-1:0: RTOL"),
        (
            ["verify-parity", "{model}", "{model}", "--batch-sizes", "100000000"],
            "--batch-sizes 100000000: choose",
        ),
        (["verify-parity", "{model}", "{model}", "--dim-sizes", "batch=10000000"], "--dim-sizes"),
        (["verify-parity", "{model}", "{model}", "--samples", "100000"], "--samples 100000"),
        (
            ["convert", TORCH_CNN, "-o", "{dir}/o.onnx", "--dynamic", "image:9"],
            "--dynamic image:9: input 'image' has rank 4",
        ),
        (["convert", TORCH_CNN, "-o", "{dir}/o.onnx", "--dynamic", "pixels:0"], "has no input 'pixels'"),
    ],
    ids=[
        "opset_99",
        "opset_3",
        "rtol",
        "atol",
        "atol_nan",
        "tol",
        "batch_sizes",
        "dim_sizes",
        "samples",
        "dynamic_axis",
        "dynamic_name",
    ],
)
def test_options_are_validated_before_any_work(tmp_path, small_onnx, args, fragment):
    result = invoke(*(a.format(model=small_onnx, dir=tmp_path) for a in args))
    _one_line_error(result, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.onnx"]


def test_a_factory_that_calls_sys_exit_is_an_input_error(tmp_path):
    factories = tmp_path / "factories.py"
    factories.write_text("import sys\n\ndef exits():\n    sys.exit(3)\n")
    _one_line_error(
        invoke("convert", f"{factories}:exits", "-o", str(tmp_path / "x.onnx")),
        "factories.py:exits",
        "sys.exit(3)",
    )
    script = tmp_path / "script.py"
    script.write_text("import sys\nsys.exit(3)\n\ndef build():\n    pass\n")
    _one_line_error(invoke("convert", f"{script}:build", "-o", str(tmp_path / "x.onnx")), "sys.exit(3)")


@pytest.mark.slow
def test_saved_models_are_replaced_only_when_toolkit_wrote_them(tmp_path, small_onnx):
    ours = tmp_path / "ours"
    for _ in range(2):  # the second run replaces the first one's directory
        assert invoke("convert", str(small_onnx), "--to", "tensorflow", "-o", str(ours)).exit_code == 0
    assert (ours / "saved_model.pb").is_file()
    foreign = tmp_path / "foreign"
    shutil.copytree(ours, foreign)
    (foreign / ".written-by-toolkit").unlink()  # as if another tool had written it
    _one_line_error(
        invoke("convert", str(small_onnx), "--to", "tensorflow", "-o", str(foreign)), "pass --force"
    )
    forced = invoke("convert", str(small_onnx), "--to", "tensorflow", "-o", str(foreign), "--force")
    assert forced.exit_code == 0, forced.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.onnx", "foreign", "ours"]


SIGINT_DURING_SAVE = """
import os, signal, sys
import torch

signal.signal(signal.SIGINT, signal.default_int_handler)  # also when pytest runs as a background job

real_save = torch.export.save


class InterruptingFile:
    '''Sends SIGINT on every write torch's C++ writer makes: Ctrl-C in the middle of the save.'''

    def __init__(self, file):
        self.file = file

    def write(self, data):
        os.kill(os.getpid(), signal.SIGINT)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)


torch.export.save = lambda program, f, **kw: real_save(program, InterruptingFile(f), **kw)
from toolkit.cli import main
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_ctrl_c_while_a_pt2_is_saved_is_a_clean_interruption(tmp_path, small_onnx):
    """Before the fix the process died of SIGABRT (exit 134) with ~30 C++ frames."""
    output = tmp_path / "out" / "model.pt2"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            SIGINT_DURING_SAVE,
            "convert",
            str(small_onnx),
            "--to",
            "torch",
            "-o",
            str(output),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 130, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("W")]
    assert lines == ["toolkit: interrupted"], result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.onnx"]  # not even the parent made for it

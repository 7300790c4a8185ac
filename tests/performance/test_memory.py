"""Peak memory of each conversion step on a model over the external-data threshold (~320 MB of weights):
no step holds a third copy of the weights. Each step runs in a fresh process, measured the way
scripts/bench_scale.py measures the LLaMA sizes (peak RSS above the process's baseline)."""

import json
import subprocess
import sys
import textwrap

import pytest

PEAK_GOAL = 2.0  # the goal, in weight bytes, for every step
STEP = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, "scripts")
    from bench_scale import Phases
    import numpy as np, onnx, torch
    import toolkit.api

    def build():
        torch.manual_seed(0)
        return torch.nn.Sequential(*[torch.nn.Linear(4096, 4096) for _ in range(5)]).eval()

    step, path = sys.argv[1], sys.argv[2]
    x = np.random.default_rng(0).standard_normal((2, 4096)).astype(np.float32)
    phases = Phases()
    if step == "export":
        with phases.phase("build"):
            module = build()
        with phases.phase("convert"):
            toolkit.convert(module, example_inputs=(x,), output=path)
        with torch.no_grad():
            np.save(path + ".expected.npy", module(torch.from_numpy(x)).numpy())
    elif step == "torch":
        with phases.phase("import"):
            module = toolkit.convert(path, to="torch")
        with phases.phase("run"), torch.no_grad():
            y = module(torch.from_numpy(x)).numpy()
    else:
        import tensorflow  # noqa: F401  (its own footprint is not the model's)

        phases = Phases()
        with phases.phase("import"):
            module = toolkit.convert(path, to="tensorflow")
        with phases.phase("run"):
            y = module(x).numpy()
    difference = 0.0 if step == "export" else float(np.abs(y - np.load(path + ".expected.npy")).max())
    print(json.dumps({"phases": phases.records, "max_abs_diff": difference}))
    """
)
WEIGHT_BYTES = 5 * (4096 * 4096 + 4096) * 4


def _step(repository, step: str, path) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", STEP, step, str(path)],
        capture_output=True,
        text=True,
        cwd=repository,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _ratios(result: dict) -> dict[str, float]:
    return {r["phase"]: r["peak_above_baseline"] / WEIGHT_BYTES for r in result["phases"]}


@pytest.mark.slow
def test_no_step_holds_a_third_copy_of_the_weights(repository, tmp_path):
    path = tmp_path / "linear.onnx"
    export = _ratios(_step(repository, "export", path))
    assert sorted(p.name for p in tmp_path.iterdir() if "expected" not in p.name) == [
        "linear.onnx",
        "linear.onnx.data",
    ]
    # The module itself is one copy; torch.onnx's program and the checks add at most one more.
    assert export["convert"] <= PEAK_GOAL, export
    torch_result = _step(repository, "torch", path)
    imported = _ratios(torch_result)
    # The parameters are the file's pages, mapped: importing reads none of them, running reads them once.
    assert imported["import"] <= 0.25, imported
    assert imported["run"] <= 1.5, imported
    assert torch_result["max_abs_diff"] < 1e-3
    tensorflow_result = _step(repository, "tensorflow", path)
    imported = _ratios(tensorflow_result)
    # The tf.Variables are the one copy; the mapped pages they were copied from are let go.
    assert imported["import"] <= 1.6, imported
    assert imported["run"] <= 1.6, imported
    assert tensorflow_result["max_abs_diff"] < 1e-3

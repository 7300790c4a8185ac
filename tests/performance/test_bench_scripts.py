"""The benchmark scripts as users run them: real subprocesses, their JSON read back."""

import json
import subprocess
import sys

import pytest


def _run(repository, script, *arguments):
    command = [sys.executable, str(repository / "scripts" / script), *arguments]
    return subprocess.run(command, capture_output=True, text=True, cwd=repository, timeout=900)


@pytest.mark.slow
def test_bench_importers_reports_median_ratio_spread_and_verdict(repository, tmp_path):
    output = tmp_path / "ratios.json"
    completed = _run(
        repository,
        "bench_importers.py",
        "--rounds",
        "3",
        "--only",
        "torch",
        "--models",
        "torch_mlp",
        "--json",
        str(output),
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "min-max" in completed.stdout and "torch_mlp (round trip)" in completed.stdout
    document = json.loads(output.read_text())
    assert document["rounds"] == 3
    assert [(pair["model"], pair["batch"]) for pair in document["pairs"]] == [
        ("torch_mlp (round trip)", 1),
        ("torch_mlp (round trip)", 32),
    ]
    for pair in document["pairs"]:
        assert len(pair["ratios"]) == 3
        assert pair["ratio_min"] <= pair["ratio_median"] <= pair["ratio_max"]
        straddles = pair["ratio_min"] <= 1.0 <= pair["ratio_max"]
        assert (pair["verdict"] == "within noise") == straddles


@pytest.mark.slow
def test_bench_importers_tensorflow_pairs_print_only_the_table(repository):
    """No TF C++ start-up notice, and no retracing warning: the Keras twin is traced once for both batches."""
    completed = _run(
        repository, "bench_importers.py", "--rounds", "1", "--only", "tensorflow", "--models", "keras_cnn"
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "torch_cnn -> TF vs keras_cnn" in completed.stdout
    output = completed.stdout + completed.stderr
    for chatter in ("oneDNN", "absl::InitializeLog", "retracing"):
        assert chatter not in output, output[:2000]


# The tiny decoder runs every step the 100M to 1.2B sizes run, in about 30 s. The 100M size itself
# takes over 6 minutes on 2 cores (its export alone 2.5 minutes): `make bench-scale` measures it.
@pytest.mark.slow
def test_bench_scale_converts_everywhere_at_parity_and_cleans_up(repository, tmp_path):
    output = tmp_path / "scale.json"
    work = tmp_path / "work"
    completed = _run(
        repository, "bench_scale.py", "--sizes", "tiny", "--work-dir", str(work), "--json", str(output)
    )
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    entry = json.loads(output.read_text())["sizes"]["tiny"]
    assert entry["parameters"] > 0 and entry["weight_bytes"] == 4 * entry["parameters"]
    steps = {result["step"]: result for result in entry["steps"]}
    assert list(steps) == ["export", "onnxruntime", "torch", "pt2-load", "tensorflow", "savedmodel-load"]
    for name, result in steps.items():
        if name != "export":  # every other step compares its logits with the native model's
            assert result["passed"], f"{name}: max |diff| {result['max_abs_diff']}"
        assert result["phases"] and all(
            r["seconds"] >= 0 and r["peak_above_baseline"] >= 0 for r in result["phases"]
        )
    assert "peak/weights" in completed.stdout
    assert list(work.iterdir()) == [], "each size's artifacts are removed after it ran"


# No device is lent to CI: the GPU script runs its pairs on the CPU (the same code but the device),
# and without CUDA the default device is a clear exit 2.
@pytest.mark.slow
def test_bench_gpu_runs_its_pairs_on_cpu_and_refuses_without_cuda(repository, tmp_path):
    output = tmp_path / "gpu.json"
    completed = _run(
        repository,
        "bench_gpu.py",
        "--device",
        "cpu",
        "--rounds",
        "2",
        "--models",
        "torch_mlp",
        "--json",
        str(output),
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    document = json.loads(output.read_text())
    assert [(pair["importer"], pair["batch"]) for pair in document["pairs"]] == [
        ("import", 1),
        ("onnxruntime", 1),
        ("import", 32),
        ("onnxruntime", 32),
    ]
    import torch

    if not torch.cuda.is_available():
        refused = _run(repository, "bench_gpu.py", "--models", "torch_mlp")
        assert refused.returncode == 2 and "no CUDA device" in refused.stderr

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


@pytest.mark.slow
def test_bench_compile_reports_paired_ratios_and_a_verdict(repository, tmp_path):
    output = tmp_path / "compiled.json"
    arguments = ["--only", "torch", "--models", "torch_mlp", "--batches", "32", "--rounds", "3"]
    completed = _run(repository, "bench_compile.py", *arguments, "--block-ms", "20", "--json", str(output))
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "verdict" in completed.stdout
    (row,) = json.loads(output.read_text())["rows"]
    assert (row["model"], row["batch"], row["graph_breaks"]) == ("torch_mlp", 32, 0)
    assert len(row["compiled_ratios"]) == 3
    assert row["compiled_ratio_min"] <= row["compiled_ratio"] <= row["compiled_ratio_max"]
    assert row["verdict"] in ("faster", "within 10%", "slower", "within noise")
    assert row["max_abs_diff_compiled_vs_native"] < 1e-4

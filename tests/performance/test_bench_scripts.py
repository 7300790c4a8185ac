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


def _available_gib():
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return 0.0


# The 100M decoder needs about 1.5 GiB per step above the frameworks' own footprint.
SCALE_TEST_GIB = 4


@pytest.mark.slow
def test_bench_scale_100m_converts_everywhere_at_parity(repository, tmp_path):
    if _available_gib() < SCALE_TEST_GIB:
        pytest.skip(f"the 100M decoder needs {SCALE_TEST_GIB} GiB available")
    output = tmp_path / "scale.json"
    completed = _run(
        repository,
        "bench_scale.py",
        "--sizes",
        "100M",
        "--work-dir",
        str(tmp_path / "work"),
        "--json",
        str(output),
    )
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    entry = json.loads(output.read_text())["sizes"]["100M"]
    assert 90e6 < entry["parameters"] < 120e6
    steps = {result["step"]: result for result in entry["steps"]}
    assert list(steps) == ["export", "onnxruntime", "torch", "pt2-load", "tensorflow", "savedmodel-load"]
    for name, result in steps.items():
        assert result.get("passed", True), f"{name}: max |diff| {result.get('max_abs_diff')}"
        assert all(
            record["seconds"] >= 0 and record["peak_above_baseline"] >= 0 for record in result["phases"]
        )
    assert list((tmp_path / "work").iterdir()) == [], "each size's artifacts are removed after it ran"

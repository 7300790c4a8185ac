"""The 100M LLaMA-style decoder through every step of scripts/bench_scale.py, as `make bench-scale`
runs it (each step in its own process): parity on every leg, no phase's peak RSS above twice the
weight bytes, and the artifacts removed afterwards. About 75 s on the shared 2-core machine (load
~2.5), the seven processes' framework imports a good part of it; it replaces the tiny decoder's
run of the same steps. 400M and 1.2B stay with `make bench-scale` (minutes, and up to 14 GiB)."""

import json
import subprocess
import sys

import pytest

SIZE = "100M"
STEPS = ("export", "onnxruntime", "torch", "pt2-load", "tensorflow", "savedmodel-load")
PEAK_GOAL = 2.0  # the goal: peak RSS above the baseline, in weight bytes, for every phase


@pytest.mark.slow
def test_100m_decoder_converts_with_parity_within_twice_its_weights(repository, tmp_path):
    report_path, work = tmp_path / "scale.json", tmp_path / "work"
    command = [
        sys.executable,
        str(repository / "scripts" / "bench_scale.py"),
        "--sizes",
        SIZE,
        "--work-dir",
        str(work),
        "--json",
        str(report_path),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=repository, timeout=1800)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    entry = json.loads(report_path.read_text())["sizes"][SIZE]
    assert "skipped" not in entry, entry.get("skipped")
    results = {result["step"]: result for result in entry["steps"]}
    assert tuple(results) == STEPS, [r.get("error") for r in entry["steps"]]
    weight_bytes = entry["weight_bytes"]
    assert 90e6 < entry["parameters"] < 130e6 and weight_bytes == 4 * entry["parameters"]
    assert "peak/weights" in completed.stdout
    assert list(work.iterdir()) == [], "each size's artifacts are removed after it ran"
    for step, result in results.items():
        if step != "export":  # every other leg runs the model and compares with the native logits
            assert result["passed"], (step, result["max_abs_diff"])
        for record in result["phases"]:
            ratio = record["peak_above_baseline"] / weight_bytes
            assert ratio <= PEAK_GOAL, f"{step}: {record['phase']} peaked at {ratio:.2f}x the weights"

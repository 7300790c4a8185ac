"""The main job (`make run`) end to end: every reference model exported, re-imported both ways, at parity."""

import json
import runpy

import pytest


@pytest.mark.slow
def test_every_reference_model_passes_every_leg(repository, tmp_path, capsys):
    job = runpy.run_path(str(repository / "scripts" / "reference_job.py"))
    summary = tmp_path / "summary.json"
    exit_code = job["main"](["--output-dir", str(tmp_path), "--json", str(summary)])
    printed = capsys.readouterr().out
    results = json.loads(summary.read_text())
    failures = {r["name"]: [leg for leg in r["legs"] if not leg["passed"]] for r in results}
    assert exit_code == 0, {name: legs for name, legs in failures.items() if legs}
    assert len(results) == 9 and "9/9 reference models pass every leg" in printed
    assert {leg["target"] for r in results for leg in r["legs"]} == {"onnx", "torch", "tensorflow"}


def test_unknown_model_is_a_usage_error(repository, capsys):
    job = runpy.run_path(str(repository / "scripts" / "reference_job.py"))
    assert job["main"](["--models", "no_such_model"]) == 2
    assert "unknown model or leg: no_such_model" in capsys.readouterr().err

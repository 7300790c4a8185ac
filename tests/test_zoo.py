"""The zoo's representative subset through scripts/run_zoo.py, as `make zoo` runs all of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from zoo import FAMILIES, REPRESENTATIVE, ZOO


def test_the_corpus_covers_every_family_the_issue_lists():
    assert len(ZOO) >= 40
    assert len(ZOO) == sum(len(names) for names in FAMILIES.values()), "a name taken by two families"
    assert set(REPRESENTATIVE) <= set(ZOO)
    assert {module.split(".")[1] for module in FAMILIES} == {
        "keras_applications",
        "transformers_text",
        "transformers_vision_audio",
        "torch_stacks",
        "keras_stacks",
    }


def test_expected_failures_name_a_reason_and_a_real_leg(repository):
    script = _script_module(repository)
    for (model, leg), reason in script.EXPECTED_FAILURES.items():
        assert model in ZOO and leg in script.LEGS and len(reason) > 30, (model, leg, reason)


def _script_module(repository):
    import importlib.util

    spec = importlib.util.spec_from_file_location("zoo_script", repository / "scripts" / "run_zoo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["zoo_script"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_representative_models_pass_every_leg(repository, tmp_path):
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repository), *sys.path])}
    report = tmp_path / "zoo.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(repository / "scripts" / "run_zoo.py"),
            "--models",
            ",".join(REPRESENTATIVE),
            "--output-dir",
            str(tmp_path / "zoo"),
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert f"zoo: {len(REPRESENTATIVE)}/{len(REPRESENTATIVE)} models pass every leg" in completed.stdout, (
        completed.stdout[-4000:] + completed.stderr[-2000:]
    )
    assert completed.returncode == 0
    records = json.loads(report.read_text())
    legs = {leg for record in records for leg in record["legs"]}
    assert legs == {"export", "onnxruntime", "torch", "tensorflow", "pt2", "py", "saved_model", "parameters"}
    assert "absl::InitializeLog" not in completed.stderr + completed.stdout

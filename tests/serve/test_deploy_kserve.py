"""`toolkit deploy --target kserve`: an InferenceService validated by the kserve SDK's own classes.

The SDK lives in .venv-kserve (its pins conflict with toolkit's venv); validation runs there.
Each negative case is a manifest a person could plausibly write, and the SDK's classes refuse it.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

from toolkit.cli import cli
from toolkit.deploy.kserve import (
    RUNTIME_VERSION,
    KServeOptions,
    build_manifest,
    manifest_problems,
    validate_manifest,
)

VENV = Path(__file__).resolve().parents[2] / ".venv-kserve"


@pytest.fixture(scope="module", autouse=True)
def kserve_venv():
    unavailable = VENV / ".unavailable"
    if unavailable.is_file():
        # CI builds it on a machine that can: there a failed build is a failure, never a skip.
        report = pytest.fail if os.environ.get("CI") else pytest.skip
        report(f"kserve venv could not be built: {unavailable.read_text().strip()}")
    if not (VENV / ".installed").is_file():
        pytest.fail("no .venv-kserve: build it with `make .venv-kserve/.installed` (make test does)")


def deploy(*arguments: str):
    result = CliRunner().invoke(cli, ["deploy", *arguments])
    return SimpleNamespace(returncode=result.exit_code, stderr=result.stderr, stdout=result.stdout)


def test_manifest_is_written_and_valid(model_dir, tmp_path):
    output = tmp_path / "isvc.yaml"
    result = deploy(
        str(model_dir / "cnn.onnx"), "--target", "kserve", "-o", str(output),
        "--storage-uri", "s3://models/repo", "--min-replicas", "1", "--max-replicas", "4",
        "--scale-metric", "rps", "--scale-target", "50", "--cpu", "4", "--memory", "8Gi", "--gpus", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(output.read_text())
    assert manifest["apiVersion"] == "serving.kserve.io/v1beta1" and manifest["kind"] == "InferenceService"
    assert manifest["metadata"] == {"name": "cnn"}
    predictor = manifest["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 4)
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("rps", 50)
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "onnx"}
    assert (model["runtime"], model["runtimeVersion"], model["protocolVersion"]) == (
        "kserve-tritonserver",
        RUNTIME_VERSION,
        "v2",
    )
    assert model["storageUri"] == "s3://models/repo"
    assert model["resources"] == {
        "requests": {"cpu": "4", "memory": "8Gi"},
        "limits": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"},
    }
    validate_manifest(manifest)  # what was written validates again as read back


def good_manifest() -> dict:
    return build_manifest([Path("cnn.onnx")], KServeOptions(storage_uri="s3://models/repo", max_replicas=2))


def _set(manifest: dict, path: str, value) -> dict:
    manifest = copy.deepcopy(manifest)
    *parents, last = path.split(".")
    node = manifest
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return manifest


def _rename(manifest: dict, path: str, new_key: str) -> dict:
    manifest = copy.deepcopy(manifest)
    *parents, last = path.split(".")
    node = manifest
    for key in parents:
        node = node[key]
    node[new_key] = node.pop(last)
    return manifest


_DELETE = object()
MODEL = "spec.predictor.model"
NEGATIVE_CASES = [
    ("misspelt storageUri", lambda m: _rename(m, f"{MODEL}.storageUri", "storageURI"), "unknown field(s) storageURI for V1beta1ModelSpec (did you mean storageUri?)"),
    ("misspelt minReplicas", lambda m: _rename(m, "spec.predictor.minReplicas", "minReplica"), "unknown field(s) minReplica for V1beta1PredictorSpec"),
    ("unknown top-level field", lambda m: _set(m, "status2", {}), "unknown field(s) status2 for V1beta1InferenceService"),
    ("scaleTarget as a float", lambda m: _set(m, "spec.predictor.scaleTarget", 1.5), "scaleTarget: expected int, got float 1.5"),
    ("modelFormat as text", lambda m: _set(m, f"{MODEL}.modelFormat", "onnx"), "expected a V1beta1ModelFormat mapping, got str"),
    ("misspelt modelFormat name", lambda m: _set(m, f"{MODEL}.modelFormat", {"nmae": "onnx"}), "unknown field(s) nmae for V1beta1ModelFormat (did you mean name?)"),
    ("replicas as text", lambda m: _set(m, "spec.predictor.minReplicas", "two"), "minReplicas: expected int, got str 'two'"),
    ("replicas as bool", lambda m: _set(m, "spec.predictor.maxReplicas", True), "maxReplicas: expected int, got bool"),
    ("resources as a list", lambda m: _set(m, f"{MODEL}.resources", ["cpu"]), "expected a V1ResourceRequirements mapping"),
    ("misspelt resource limits", lambda m: _rename(m, f"{MODEL}.resources.limits", "limit"), "unknown field(s) limit for V1ResourceRequirements"),
    ("predictor missing", lambda m: _set(m, "spec.predictor", _DELETE), "Invalid value for `predictor`, must not be `None`"),
    ("wrong apiVersion", lambda m: _set(m, "apiVersion", "serving.kserve.io/v1alpha1"), "apiVersion must be serving.kserve.io/v1beta1"),
    ("wrong kind", lambda m: _set(m, "kind", "Service"), "kind must be InferenceService"),
]  # fmt: skip


def test_kserve_classes_refuse_bad_manifests():
    """One validator run for the good manifest and every negative case (kserve takes seconds to import)."""
    manifests = [good_manifest(), *(mutate(good_manifest()) for _, mutate, _ in NEGATIVE_CASES)]
    good, *refused = manifest_problems(manifests)
    assert good == []
    print()
    for (case, _, message), problems in zip(NEGATIVE_CASES, refused, strict=True):
        print(f"{case}: {'; '.join(problems)}")
        assert any(message in problem for problem in problems), (case, problems)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "--target kserve needs --storage-uri"),
        (["--storage-uri", "s3://x", "--min-replicas", "3", "--max-replicas", "2"], "--min-replicas 3 is above --max-replicas 2"),
        (["--storage-uri", "s3://x", "--name", "Bad_Name"], "must be a DNS-1035 label"),
    ],
)  # fmt: skip
def test_bad_options_are_one_line_exit_2(model_dir, tmp_path, arguments, message):
    output = tmp_path / "isvc.yaml"
    result = deploy(str(model_dir / "cnn.onnx"), "--target", "kserve", "-o", str(output), *arguments)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert message in line
    assert not output.exists()


def test_output_rules(model_dir, tmp_path):
    arguments = [str(model_dir / "cnn.onnx"), "--target", "kserve", "--storage-uri", "s3://x"]
    result = deploy(*arguments, "-o", str(tmp_path / "isvc.json"))
    assert result.returncode == 2 and "written as .yaml or .yml" in result.stderr
    existing = tmp_path / "isvc.yaml"
    existing.write_text("keep")
    result = deploy(*arguments, "-o", str(existing))
    assert result.returncode == 2 and "already exists" in result.stderr
    assert existing.read_text() == "keep"
    assert deploy(*arguments, "-o", str(existing), "--force").returncode == 0
    assert yaml.safe_load(existing.read_text())["kind"] == "InferenceService"

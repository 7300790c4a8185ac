"""A KServe InferenceService that serves a Triton model repository with kserve-tritonserver.

The manifest is validated by `kserve_validate.py` against the kserve SDK's model classes before it
is written. kserve's pins (python-dateutil<3) conflict with toolkit's venv, so the validator runs
in the interpreter named by TOOLKIT_KSERVE_PYTHON, else this one when it has kserve, else the
repository's .venv-kserve (`make .venv-kserve/.installed`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import InputError, UsageError
from toolkit.io import atomic_output

API_VERSION = "serving.kserve.io/v1beta1"
RUNTIME = "kserve-tritonserver"
# The NGC tritonserver image tag of Triton 2.51, the release the Triton tests run.
RUNTIME_VERSION = "24.10-py3"
VALIDATOR = Path(__file__).with_name("kserve_validate.py")
# Kubernetes object names in KServe: a DNS-1035 label (the service name becomes a host name).
NAME_PATTERN = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
SCALE_METRICS = ("concurrency", "rps", "cpu", "memory")


@dataclass(frozen=True)
class KServeOptions:
    storage_uri: str
    name: str | None = None  # default: the first model's stem, lowercased, '_' as '-'
    runtime_version: str | None = None
    min_replicas: int = 1
    max_replicas: int = 1
    scale_metric: str = "concurrency"
    scale_target: int = 4
    cpu: str = "2"
    memory: str = "4Gi"
    gpus: int = 0


def service_name(paths: Sequence[Path], name: str | None) -> str:
    chosen = name or paths[0].stem.lower().replace("_", "-").replace(".", "-")
    if not NAME_PATTERN.match(chosen):
        raise UsageError(
            f"InferenceService name {chosen!r} must be a DNS-1035 label (lowercase letters, digits, '-', "
            "starting with a letter, at most 63 characters); pass --name"
        )
    return chosen


def build_manifest(paths: Sequence[Path], options: KServeOptions) -> dict:
    if options.min_replicas > options.max_replicas:
        raise UsageError(
            f"--min-replicas {options.min_replicas} is above --max-replicas {options.max_replicas}"
        )
    if options.scale_metric not in SCALE_METRICS:
        raise UsageError(f"--scale-metric {options.scale_metric!r}: choose one of {', '.join(SCALE_METRICS)}")
    resources = {"cpu": options.cpu, "memory": options.memory}
    limits = dict(resources)
    if options.gpus:
        limits["nvidia.com/gpu"] = str(options.gpus)
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": {"name": service_name(paths, options.name)},
        "spec": {
            "predictor": {
                "minReplicas": options.min_replicas,
                "maxReplicas": options.max_replicas,
                "scaleMetric": options.scale_metric,
                "scaleTarget": options.scale_target,
                "model": {
                    "modelFormat": {"name": "onnx"},
                    "runtime": RUNTIME,
                    "runtimeVersion": options.runtime_version or RUNTIME_VERSION,
                    "protocolVersion": "v2",
                    "storageUri": options.storage_uri,
                    "resources": {"requests": resources, "limits": limits},
                },
            }
        },
    }


def kserve_python() -> str:
    configured = os.environ.get("TOOLKIT_KSERVE_PYTHON")
    if configured:
        return configured
    if importlib.util.find_spec("kserve") is not None:
        return sys.executable
    venv = Path(__file__).resolve().parents[2] / ".venv-kserve" / "bin" / "python"
    if venv.is_file():
        return str(venv)
    raise UsageError(
        "validating an InferenceService needs the kserve SDK: pip install kserve in a venv of its own "
        "(make .venv-kserve/.installed) or set TOOLKIT_KSERVE_PYTHON to its python"
    )


def manifest_problems(manifests: Sequence[dict]) -> list[list[str]]:
    """What the kserve SDK's InferenceService classes refuse in each manifest (one subprocess for all)."""
    result = subprocess.run(
        [kserve_python(), "-P", str(VALIDATOR)],  # -P: toolkit/deploy off sys.path
        input=json.dumps(list(manifests)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode not in (0, 3):  # 3: kserve_validate.INVALID
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise UsageError(f"the kserve validator ({kserve_python()}) could not run: {last}")
    return json.loads(result.stdout)


def validate_manifest(manifest: dict) -> None:
    """Raise InputError listing what the kserve SDK's InferenceService classes refuse."""
    (problems,) = manifest_problems([manifest])
    if problems:
        raise InputError(f"the InferenceService does not validate: {'; '.join(problems)}")


def write_inference_service(
    paths: Sequence[Path], output: str | Path, options: KServeOptions, force=False
) -> dict:
    import yaml

    output = Path(output)
    if output.suffix not in (".yaml", ".yml"):
        raise UsageError(f"{output}: an InferenceService is written as .yaml or .yml")
    if output.is_dir():
        raise UsageError(f"{output} is a directory; name the manifest file, e.g. {output / 'isvc.yaml'}")
    if output.exists() and not force:
        raise UsageError(f"{output} already exists; pass --force to replace it")
    if any(path.resolve() == output.resolve() for path in paths):
        raise UsageError(f"{output} is one of the input models")
    manifest = build_manifest(paths, options)
    validate_manifest(manifest)
    with atomic_output(output) as temporary:
        temporary.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return manifest


def read_manifest(path: str | Path) -> dict:
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise InputError(f"{path}: not a readable YAML manifest: {error}") from None

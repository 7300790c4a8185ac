"""A real Triton (2.51, CPU) reads what `toolkit deploy --target triton` writes.

The nvidia-pytriton wheel ships tritonserver and its python backend but no onnxruntime backend.
So for the onnxruntime repository the test asserts that every model gets through Triton's
configuration checks and stops only at the missing backend library, and that broken configs stop
earlier, at those checks, with Triton's own messages (which toolkit's own check refuses too).
The `--backend python` repository (the python backend running onnxruntime) is served for real,
and tritonclient's answers, JSON and binary, equal onnxruntime's in this process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import tritonclient.http as triton
from conftest import free_port
from triton_server import repository_index, require_triton, tritonserver

import toolkit
from toolkit.deploy.signature import read_signature
from toolkit.deploy.triton import TritonOptions, check_config, write_repository
from toolkit.errors import ToolkitError

pytestmark = [pytest.mark.slow, pytest.mark.triton]

REFERENCE_MODELS = sorted(
    path.stem
    for path in (Path(__file__).resolve().parents[2] / "models").glob("*.py")
    if path.stem != "__init__"
)
MISSING_BACKEND = (
    "Invalid argument: unable to find backend library for backend 'onnxruntime', "
    "try specifying runtime on the model configuration."
)


@pytest.fixture(scope="module")
def reference_onnx(tmp_path_factory) -> dict[str, Path]:
    """Every reference architecture exported the way users do it: toolkit.convert on models/NAME.py:build."""
    require_triton()  # skip before the exports when there is no Triton
    directory = tmp_path_factory.mktemp("reference_onnx")
    root = Path(__file__).resolve().parents[2]
    for name in REFERENCE_MODELS:
        toolkit.convert(
            f"{root / 'models' / name}.py:build", to="onnx", output=str(directory / f"{name}.onnx")
        )
    return {name: directory / f"{name}.onnx" for name in REFERENCE_MODELS}


def broken_configs(good: str) -> dict[str, tuple[str, str]]:
    """name: (config text, the message Triton logs when it refuses it)."""
    return {
        "wrong_name": (good.replace('name: "wrong_name"', 'name: "other"'), "unexpected directory name 'wrong_name' for model 'other', directory name must equal model name"),
        "preferred_too_large": (good.replace("preferred_batch_size: 8", "preferred_batch_size: 16"), "dynamic batching preferred size must be <= max batch size for preferred_too_large"),
        "negative_batch": (good.replace("max_batch_size: 8", "max_batch_size: -2"), "'max_batch_size' must be non-negative value for negative_batch"),
        "unknown_field": (good.replace("max_batch_size: 8", "max_batch: 8"), "failed to read text proto from"),
    }  # fmt: skip


def test_triton_accepts_every_exported_reference_model(reference_onnx, model_dir, tmp_path):
    served = {name: model_dir / f"{name}.onnx" for name in ("cnn", "transformer", "mixed", "strings")}
    models = {**reference_onnx, **served}
    repository = tmp_path / "repo"
    configs = write_repository(list(models.values()), repository, TritonOptions())
    # Broken copies of the CNN's config beside the good models: Triton refuses them at its checks.
    broken = {}
    for name in ("wrong_name", "preferred_too_large", "negative_batch", "unknown_field"):
        good = configs["cnn"].replace('name: "cnn"', f'name: "{name}"')
        text, message = broken_configs(good)[name]
        (repository / name / "1").mkdir(parents=True)
        (repository / name / "config.pbtxt").write_text(text)
        (repository / name / "1" / "model.onnx").write_bytes(served["cnn"].read_bytes())
        broken[name] = (text, message)
    with tritonserver(repository, free_port()) as (url, log_path):
        index = repository_index(url)
    log = log_path.read_text()
    results = {}
    for name in models:
        entry = index[name]
        results[name] = entry.get("reason", entry.get("state"))
    print("\nTriton 2.51 repository index, per model:")
    for name, reason in sorted(results.items()):
        print(f"  {name}: {reason}")
    assert results == dict.fromkeys(models, MISSING_BACKEND)
    signature = read_signature(served["cnn"])
    for name, (text, message) in broken.items():
        assert "state" not in index[name]  # never loaded: refused while reading the repository
        assert f"Poll failed for model directory '{name}': {message}" in log
        with pytest.raises(ToolkitError):
            check_config(text, name, signature)  # toolkit refuses what Triton refuses


def example_feeds(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs for any of the test models: batch 2, other dynamic axes 5, token ids below 10."""
    feeds = {}
    for spec in onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs():
        shape = [
            size if isinstance(size, int) else (2 if axis == 0 else 5) for axis, size in enumerate(spec.shape)
        ]
        if spec.type == "tensor(float)":
            feeds[spec.name] = rng.standard_normal(shape).astype(np.float32)
        elif spec.type == "tensor(int64)":
            feeds[spec.name] = rng.integers(0, 10, shape).astype(np.int64)
        elif spec.type == "tensor(bool)":
            feeds[spec.name] = (
                rng.random(shape) < 0.5 if len(shape) != 2 or shape[1] != 16 else np.zeros(shape, bool)
            )
        elif spec.type == "tensor(string)":
            feeds[spec.name] = np.array(
                [f"text {index}".encode() for index in range(int(np.prod(shape)))], dtype=object
            ).reshape(shape)
        else:
            raise AssertionError(f"{path.name}: no example for {spec.type}")
    return feeds


def test_python_backend_serves_onnxruntime_numbers(reference_onnx, model_dir, tmp_path):
    served = {name: model_dir / f"{name}.onnx" for name in ("mixed", "strings")}
    models = {**reference_onnx, **served}
    repository = tmp_path / "python_repo"
    write_repository(list(models.values()), repository, TritonOptions(backend="python"))
    rng = np.random.default_rng(12)
    checked = []
    with tritonserver(repository, free_port(), wait_for_ready=True, timeout_s=300) as (url, _):
        assert {name: entry["state"] for name, entry in repository_index(url).items()} == dict.fromkeys(
            models, "READY"
        )
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        try:
            for name, path in models.items():
                feeds = example_feeds(path, rng)
                session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                local = session.run(
                    None,
                    {
                        key: value.astype(str) if value.dtype == object else value
                        for key, value in feeds.items()
                    },
                )
                signature = read_signature(path)
                for binary in (True, False):
                    inputs = []
                    for spec in signature.inputs:
                        value = feeds[spec.name]
                        if (
                            value.ndim == 1
                        ):  # Triton's [batch] tensors travel as [batch, 1] (dims [1], reshaped)
                            value = value.reshape(-1, 1)
                        datatype = (
                            triton.np_to_triton_dtype(value.dtype) if value.dtype != object else "BYTES"
                        )
                        tensor = triton.InferInput(spec.name, list(value.shape), datatype)
                        tensor.set_data_from_numpy(value, binary_data=binary)
                        inputs.append(tensor)
                    outputs = [
                        triton.InferRequestedOutput(spec.name, binary_data=binary)
                        for spec in signature.outputs
                    ]
                    result = client.infer(name, inputs, outputs=outputs)
                    for spec, expected in zip(signature.outputs, local, strict=True):
                        answer = result.as_numpy(spec.name).reshape(np.shape(expected))
                        if answer.dtype == object:
                            answer = np.array(
                                [
                                    item.decode() if isinstance(item, bytes) else item
                                    for item in answer.reshape(-1)
                                ]
                            ).reshape(answer.shape)
                            np.testing.assert_array_equal(answer, expected)
                        else:
                            np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=1e-6)
                checked.append(name)
        finally:
            client.close()
    print(
        f"\nTriton python backend, tritonclient JSON and binary equal onnxruntime for: {', '.join(checked)}"
    )
    assert checked == list(models)

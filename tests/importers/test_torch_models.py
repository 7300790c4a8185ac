"""The reference models end to end through the torch importer.

torch models: torch → ONNX → torch, checked against the original at two batch sizes, and the .pt2
(dynamic batch) and .py outputs against the in-memory module in a fresh interpreter without the
toolkit. Keras models: Keras → ONNX → torch, checked against Keras.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import models
from toolkit.importers.torch import import_onnx, save

BATCH_SIZES = (2, 5)


def _batch(inputs, size):
    """The example inputs resized along axis 0 (rows repeated cyclically)."""
    return tuple(np.take(x, np.arange(size) % x.shape[0], axis=0) for x in inputs)


def _outputs(result):
    values = result if isinstance(result, (tuple, list)) else (result,)
    return [v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for v in values]


@pytest.fixture(scope="module", params=models.references("torch"))
def torch_case(request):
    from toolkit.export import export_torch

    reference = models.load_reference(request.param)
    torch_module = reference.build()
    example = reference.example_inputs()
    exported = export_torch(torch_module, [torch.from_numpy(x) for x in example])
    return request.param, torch_module, example, import_onnx(exported.model)


def test_torch_reference_round_trips_at_two_batch_sizes(torch_case):
    name, torch_module, example, imported = torch_case
    assert not [n.target for n in imported.graph.nodes if n.op == "call_module"], f"{name}: eager nodes left"
    for size in BATCH_SIZES:
        inputs = [torch.from_numpy(x) for x in _batch(example, size)]
        with torch.no_grad():
            want, got = _outputs(torch_module(*inputs)), _outputs(imported(*inputs))
        for w, g in zip(want, got, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=f"{name} at batch {size}")


@pytest.mark.slow
def test_torch_reference_pt2_and_python_outputs_match_without_the_toolkit(torch_case, tmp_path):
    name, _, example, imported = torch_case
    save(imported, tmp_path / "model.pt2", example_inputs=[torch.from_numpy(x) for x in example])
    save(imported, tmp_path / "model.py")
    expected = {}
    for size in BATCH_SIZES:
        inputs = _batch(example, size)
        np.savez(tmp_path / f"inputs_{size}.npz", *inputs)
        with torch.no_grad():
            expected[size] = _outputs(imported(*[torch.from_numpy(x) for x in inputs]))
    script = f"""
import sys, numpy as np, torch
sys.path.insert(0, sys.argv[1])
from model import OnnxModule
python_module, program = OnnxModule(), torch.export.load(sys.argv[1] + "/model.pt2").module()
for size in {BATCH_SIZES!r}:
    data = np.load(sys.argv[1] + f"/inputs_{{size}}.npz")
    inputs = [torch.from_numpy(data[k]) for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]
    for label, module in (("py", python_module), ("pt2", program)):
        with torch.no_grad():
            result = module(*inputs)
        result = result if isinstance(result, (tuple, list)) else (result,)
        np.savez(sys.argv[1] + f"/{{label}}_{{size}}.npz", *[r.numpy() for r in result])
assert "toolkit" not in sys.modules
"""
    environment = {**os.environ, "PYTHONPATH": ""}  # a fresh interpreter that cannot import toolkit
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, cwd=tmp_path, env=environment)
    for size in BATCH_SIZES:
        for label in ("py", "pt2"):
            data = np.load(tmp_path / f"{label}_{size}.npz")
            got = [data[f"arr_{i}"] for i in range(len(data.files))]
            for w, g in zip(expected[size], got, strict=True):
                np.testing.assert_allclose(
                    g, w, rtol=1e-5, atol=1e-6, err_msg=f"{name} {label} at batch {size}"
                )


def _keras_parity(keras_model, example, rtol=1e-4, atol=1e-4):
    from toolkit.export import export_tensorflow

    exported = export_tensorflow(keras_model, example_inputs=example)
    imported = import_onnx(exported.model)
    for size in BATCH_SIZES:
        inputs = _batch(example, size)
        want = _outputs(
            [np.asarray(v) for v in _as_list(keras_model(list(inputs) if len(inputs) > 1 else inputs[0]))]
        )
        with torch.no_grad():
            got = _outputs(imported(*[torch.from_numpy(x) for x in inputs]))
        for w, g in zip(want, got, strict=True):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"batch {size}")


def _as_list(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


@pytest.mark.slow
@pytest.mark.parametrize("name", models.references("keras"))
def test_keras_reference_converts_with_parity(name):
    reference = models.load_reference(name)
    _keras_parity(reference.build(), reference.example_inputs())


@pytest.mark.slow
@pytest.mark.parametrize("application", ["MobileNetV3Small", "EfficientNetB0"])
def test_keras_applications_convert_with_parity(application):
    import keras

    keras_model = getattr(keras.applications, application)(weights=None, input_shape=(64, 64, 3))
    example = (np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32),)
    _keras_parity(keras_model, example, rtol=1e-3, atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("name", models.references("keras"))
def test_keras_reference_pt2_keeps_a_dynamic_batch(name, tmp_path):
    """Keras → ONNX (tf2onnx) → torch → .pt2: exported with a dynamic batch (no warning that it
    was fixed), and the loaded program matches onnxruntime at two batch sizes."""
    import warnings

    import onnxruntime

    from toolkit.export import export_tensorflow

    reference = models.load_reference(name)
    example = reference.example_inputs()
    exported = export_tensorflow(reference.build(), example_inputs=example)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save(import_onnx(exported.model), tmp_path / "model.pt2")
    fallbacks = [str(w.message) for w in caught if "fixed input shapes" in str(w.message)]
    assert not fallbacks, fallbacks
    program = torch.export.load(tmp_path / "model.pt2").module()
    ort_session = onnxruntime.InferenceSession(
        exported.model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    for size in BATCH_SIZES:
        inputs = _batch(example, size)
        want = ort_session.run(
            None, {i.name: x for i, x in zip(ort_session.get_inputs(), inputs, strict=True)}
        )
        with torch.no_grad():
            got = _outputs(program(*[torch.from_numpy(x) for x in inputs]))
        for w, g in zip(want, got, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=f"{name} pt2 at batch {size}")

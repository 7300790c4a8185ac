"""Every torch reference model: torch → ONNX → TensorFlow, parity with torch at two batch sizes, one conversion."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

import models  # noqa: E402
from toolkit.export import export_torch  # noqa: E402
from toolkit.importers.tensorflow import import_onnx  # noqa: E402


def _batch(array, size):
    reps = -(-size // array.shape[0])
    return np.concatenate([array] * reps)[:size]


@pytest.mark.slow
@pytest.mark.parametrize("name", models.references("torch"))
def test_reference_model_parity(name):
    reference = models.load_reference(name)
    torch_module = reference.build().eval()
    example = [np.asarray(x) for x in reference.example_inputs()]
    exported = export_torch(torch_module, example)
    module = import_onnx(exported.model)  # converted once, called at two batch sizes
    for size in (1, 3):
        inputs = [_batch(x, size) for x in example]
        with torch.no_grad():
            want = torch_module(*[torch.from_numpy(x) for x in inputs])
        want = [w.numpy() for w in (want if isinstance(want, (tuple, list)) else (want,))]
        got = module(*inputs)
        got = got if isinstance(got, tuple) else (got,)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-4, atol=1e-4)

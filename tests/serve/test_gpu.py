"""CUDA serving: the same numbers as onnxruntime on CPU, through a real server. Skipped without a GPU."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import served_models as models
import tritonclient.http as triton
from conftest import serve_in_thread

from toolkit.serve.app import ServeSettings

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        "CUDAExecutionProvider" not in onnxruntime.get_available_providers(),
        reason="needs onnxruntime with CUDA",
    ),
]


@pytest.mark.parametrize("provider", ["cuda", "auto"])
def test_cuda_server_matches_cpu(model_dir, provider):
    image = models.cnn_input(8)
    reference = onnxruntime.InferenceSession(str(model_dir / "cnn.onnx"), providers=["CPUExecutionProvider"])
    expected = reference.run(None, {"input": image})[0]
    with serve_in_thread(
        ServeSettings((str(model_dir / "cnn.onnx"),), provider=provider, max_batch_size=16)
    ) as url:
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        tensor = triton.InferInput("input", list(image.shape), "FP32")
        tensor.set_data_from_numpy(image)
        logits = client.infer("cnn", [tensor]).as_numpy("logits")
        client.close()
    np.testing.assert_allclose(logits, expected, rtol=1e-3, atol=1e-3)

"""The v2 REST routes against a real uvicorn server: tritonclient for the happy path, httpx for the errors."""

from __future__ import annotations

import json

import httpx
import numpy as np
import onnxruntime
import pytest
import served_models as models
import tritonclient.http as triton
from conftest import keep_alive_median_ms
from tritonclient.utils import InferenceServerException


@pytest.fixture(scope="module")
def client(server_url):
    client = triton.InferenceServerClient(server_url.removeprefix("http://"))
    yield client
    client.close()


def local_run(path, feeds):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([output.name for output in session.get_outputs()], session.run(None, feeds), strict=True))


def test_health_and_metadata(client, server_url):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    for name in ("cnn", "transformer", "mixed", "strings"):
        assert client.is_model_ready(name)
        assert client.is_model_ready(name, "1")
    assert not client.is_model_ready("nope")
    metadata = client.get_model_metadata("cnn")
    assert metadata["platform"] == "onnxruntime_onnx"
    assert metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]
    assert metadata["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]
    assert httpx.get(f"{server_url}/v2/models/cnn/versions/1").json() == metadata
    assert client.get_model_metadata("transformer")["inputs"][0]["datatype"] == "INT64"


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_matches_local_onnxruntime(client, model_dir, binary):
    image = models.cnn_input(4)
    tensor = triton.InferInput("input", list(image.shape), "FP32")
    tensor.set_data_from_numpy(image, binary_data=binary)
    result = client.infer(
        "cnn", [tensor], outputs=[triton.InferRequestedOutput("logits", binary_data=binary)]
    )
    np.testing.assert_array_equal(
        result.as_numpy("logits"), local_run(model_dir / "cnn.onnx", {"input": image})["logits"]
    )

    tokens = np.random.default_rng(1).integers(0, 100, size=(3, 7)).astype(np.int64)
    tensor = triton.InferInput("tokens", list(tokens.shape), "INT64")
    tensor.set_data_from_numpy(tokens, binary_data=binary)
    result = client.infer("transformer", [tensor], model_version="1")
    np.testing.assert_allclose(
        result.as_numpy("scores"),
        local_run(model_dir / "transformer.onnx", {"tokens": tokens})["scores"],
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_bool_int64_outputs_and_output_selection(client, binary):
    x = np.array([[1.0, -2.0, 3.0]], dtype=np.float32)
    flag = np.array([[True, False, True]])
    inputs = [triton.InferInput("x", [1, 3], "FP32"), triton.InferInput("flag", [1, 3], "BOOL")]
    inputs[0].set_data_from_numpy(x, binary_data=binary)
    inputs[1].set_data_from_numpy(flag, binary_data=binary)
    result = client.infer("mixed", inputs, outputs=[triton.InferRequestedOutput("count", binary_data=binary)])
    np.testing.assert_array_equal(result.as_numpy("count"), np.array([[1, 0, 1]], dtype=np.int64))
    assert result.as_numpy("selected") is None
    result = client.infer("mixed", inputs, request_id="abc")
    np.testing.assert_array_equal(result.as_numpy("selected"), np.where(flag, x, -x))
    assert result.get_response()["id"] == "abc"


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_bytes_tensors(client, binary):
    text = np.array([b"hello", "w\u00f6rld".encode()], dtype=np.object_)
    tensor = triton.InferInput("text", [2], "BYTES")
    tensor.set_data_from_numpy(text, binary_data=binary)
    result = client.infer(
        "strings", [tensor], outputs=[triton.InferRequestedOutput("echo", binary_data=binary)]
    )
    # tritonclient hands JSON BYTES back as str and binary BYTES as bytes.
    echoed = [item.decode() if isinstance(item, bytes) else item for item in result.as_numpy("echo").tolist()]
    assert echoed == ["hello", "w\u00f6rld"]


def test_compressed_request(client):
    image = models.cnn_input(1)
    tensor = triton.InferInput("input", [1, 1, 28, 28], "FP32")
    tensor.set_data_from_numpy(image)
    result = client.infer("cnn", [tensor], request_compression_algorithm="gzip")
    assert result.as_numpy("logits").shape == (1, 10)


def infer_json(server_url, model, inputs, **extra):
    return httpx.post(f"{server_url}/v2/models/{model}/infer", json={"inputs": inputs, **extra}, timeout=30)


def cnn_tensor(**overrides):
    tensor = {"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": [0.5] * 784}
    return {**tensor, **overrides}


@pytest.mark.parametrize(
    ("model", "tensor", "status", "message"),
    [
        ("nope", cnn_tensor(), 404, "unknown model 'nope'; this server has cnn, mixed, strings, transformer"),
        ("cnn", cnn_tensor(name="image"), 400, "missing input(s) input; unknown input(s) image"),
        ("cnn", cnn_tensor(shape=[1, 28, 28]), 400, "has shape 1x28x28, the model expects batchx1x28x28"),
        ("cnn", cnn_tensor(shape=[1, 2, 28, 28], data=[0.5] * 1568), 400, "axis 1 must be 1"),
        (
            "cnn",
            cnn_tensor(datatype="INT64", data=[0] * 784),
            400,
            "input 'input' has datatype INT64, the model expects FP32",
        ),
        ("cnn", cnn_tensor(datatype="FLOAT32"), 400, "unknown datatype 'FLOAT32'"),
        (
            "cnn",
            cnn_tensor(data=[0.5] * 10),
            400,
            "'data' has 10 elements but shape [1, 1, 28, 28] needs 784",
        ),
    ],
)
def test_bad_requests_get_a_named_4xx(server_url, model, tensor, status, message):
    response = infer_json(server_url, model, [tensor])
    assert response.status_code == status
    assert message in response.json()["error"]


def test_unknown_output_and_version(server_url):
    response = infer_json(server_url, "cnn", [cnn_tensor()], outputs=[{"name": "probabilities"}])
    assert response.status_code == 400
    assert "unknown output(s) probabilities; the model has logits" in response.json()["error"]
    response = httpx.post(f"{server_url}/v2/models/cnn/versions/7/infer", json={"inputs": [cnn_tensor()]})
    assert response.status_code == 404
    assert "no version '7'" in response.json()["error"]
    assert httpx.get(f"{server_url}/v2/models/nope").status_code == 404


def test_malformed_json_and_oversized_body(server_url):
    response = httpx.post(f"{server_url}/v2/models/cnn/infer", content=b'{"inputs": [')
    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed JSON in request body")
    response = httpx.post(f"{server_url}/v2/models/cnn/infer", content=b"\0" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert "over the 1048576-byte limit" in response.json()["error"]
    # A chunked body announces no length: the limit is enforced while it streams in.
    response = httpx.post(f"{server_url}/v2/models/cnn/infer", content=iter([b"\0" * 65536] * 20))
    assert response.status_code == 413


def test_server_keeps_serving_after_errors(client, server_url):
    for _ in range(3):
        assert infer_json(server_url, "cnn", [cnn_tensor(shape=[2])]).status_code == 400
    with pytest.raises(InferenceServerException, match="unknown model"):
        client.infer(
            "missing", [triton.InferInput("input", [1], "FP32").set_data_from_numpy(np.zeros(1, np.float32))]
        )
    response = infer_json(server_url, "cnn", [cnn_tensor()])
    assert response.status_code == 200
    body = response.json()
    assert body["model_name"] == "cnn" and body["model_version"] == "1"
    assert body["outputs"][0]["shape"] == [1, 10] and len(body["outputs"][0]["data"]) == 10
    assert json.loads(httpx.get(f"{server_url}/v2").content)["name"] == "toolkit"


def test_keep_alive_requests_are_not_stalled_by_nagle(server_url):
    # The fixture hands uvicorn a socket.socket() listener (proto 0): TCP_NODELAY must come from the server.
    assert keep_alive_median_ms(server_url) < 20

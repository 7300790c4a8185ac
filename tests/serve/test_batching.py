"""Dynamic batching: concurrent requests are stacked into one run and each gets exactly its own rows back."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime
import pytest
import served_models as models

from toolkit.serve.batching import DynamicBatcher
from toolkit.serve.bench import HttpInferClient
from toolkit.serve.repository import load_models


class CountingModel:
    """A ServedModel wrapper that records the batch size of every run."""

    def __init__(self, model):
        self.model = model
        self.name = model.name
        self.batch_sizes = []

    def run(self, feeds, output_names=None):
        self.batch_sizes.append(next(iter(feeds.values())).shape[0])
        return self.model.run(feeds, output_names)


def test_requests_arriving_together_run_as_one_batch(model_dir):
    (model,) = load_models([model_dir / "cnn.onnx"], "cpu").values()
    counting = CountingModel(model)
    images = [models.cnn_input(rows, seed=rows) for rows in (1, 2, 3, 1, 4)]

    async def scenario():
        with ThreadPoolExecutor(2) as executor:
            batcher = DynamicBatcher(counting, executor, slots=1, max_batch_size=16, timeout_s=0.2)
            try:
                return await asyncio.gather(
                    *(batcher.infer({"input": image}, ["logits"]) for image in images)
                )
            finally:
                await batcher.close()

    results = asyncio.run(scenario())
    assert counting.batch_sizes == [11]
    for image, result in zip(images, results, strict=True):
        np.testing.assert_allclose(
            result["logits"], model.run({"input": image})["logits"], rtol=1e-5, atol=1e-5
        )


def test_batches_stop_at_max_batch_size_and_split_shapes(model_dir):
    (model,) = load_models([model_dir / "transformer.onnx"], "cpu").values()
    counting = CountingModel(model)
    # Sequence lengths 5 and 9 cannot be stacked: two groups, and no run above 4 rows.
    requests = [np.full((1, 5 if index % 2 else 9), index, dtype=np.int64) for index in range(10)]

    async def scenario():
        with ThreadPoolExecutor(2) as executor:
            batcher = DynamicBatcher(counting, executor, slots=1, max_batch_size=4, timeout_s=0.2)
            try:
                return await asyncio.gather(
                    *(batcher.infer({"tokens": tokens}, ["scores"]) for tokens in requests)
                )
            finally:
                await batcher.close()

    results = asyncio.run(scenario())
    assert (
        max(counting.batch_sizes) <= 4 and sum(counting.batch_sizes) == 10 and len(counting.batch_sizes) >= 3
    )
    for tokens, result in zip(requests, results, strict=True):
        np.testing.assert_allclose(
            result["scores"], model.run({"tokens": tokens})["scores"], rtol=1e-4, atol=1e-5
        )


def test_served_with_batching_matches_local_runs(batching_url, model_dir):
    session = onnxruntime.InferenceSession(str(model_dir / "cnn.onnx"), providers=["CPUExecutionProvider"])
    images = [models.cnn_input(rows, seed=index) for index, rows in enumerate([1, 3, 1, 2, 1, 1, 5, 1])]

    def call(image):
        client = HttpInferClient(batching_url)
        try:
            return client.infer("cnn", {"input": image})["logits"]
        finally:
            client.close()

    with ThreadPoolExecutor(8) as pool:
        served = list(pool.map(call, images))
    for image, logits in zip(images, served, strict=True):
        np.testing.assert_allclose(logits, session.run(None, {"input": image})[0], rtol=1e-5, atol=1e-5)


def test_bad_request_in_a_batching_server_fails_alone(batching_url):
    import httpx

    good = {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}
    flag = {"name": "flag", "shape": [1, 3], "datatype": "BOOL", "data": [True, False, True]}
    response = httpx.post(
        f"{batching_url}/v2/models/mixed/infer", json={"inputs": [good, {**flag, "shape": [1, 2]}]}
    )
    assert response.status_code == 400 and "flag" in response.json()["error"]
    response = httpx.post(f"{batching_url}/v2/models/mixed/infer", json={"inputs": [good, flag]})
    assert response.status_code == 200
    assert [output["data"] for output in response.json()["outputs"]] == [[1, -2, 3], [1, 0, 1]]


@pytest.mark.parametrize("rows", [0, 20])
def test_empty_and_oversized_requests_bypass_the_queue(batching_url, rows):
    client = HttpInferClient(batching_url)
    try:
        logits = client.infer("cnn", {"input": models.cnn_input(rows)})["logits"]
    finally:
        client.close()
    assert logits.shape == (rows, 10)

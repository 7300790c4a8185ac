"""Dynamic batching: concurrent requests are stacked into one run and each gets exactly its own rows back."""

from __future__ import annotations

import asyncio
import threading
import time
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


class SlowModel:
    """Stands in for a model whose runs take `run_s`: rows doubled, every batch size recorded."""

    name = "slow"

    def __init__(self, run_s: float):
        self.run_s = run_s
        self.batch_sizes = []
        self.lock = threading.Lock()

    def run(self, feeds, output_names=None):
        with self.lock:
            self.batch_sizes.append(feeds["x"].shape[0])
        time.sleep(self.run_s)
        return {"y": feeds["x"] * 2}


def rows(value: float, count: int = 1) -> dict:
    return {"x": np.full((count, 3), value, dtype=np.float32)}


def run_scenario(scenario, model, slots, timeout_s, max_batch_size=32):
    """Runs `scenario(batcher)` on a fresh event loop, bounded so a hang fails instead of blocking."""

    async def main():
        with ThreadPoolExecutor(slots) as executor:
            batcher = DynamicBatcher(model, executor, slots, max_batch_size, timeout_s)
            try:
                return await asyncio.wait_for(scenario(batcher), 20)
            finally:
                await batcher.close()

    return asyncio.run(main())


@pytest.mark.parametrize("slots", [1, 2])
def test_a_lone_request_is_not_delayed_by_the_timeout(slots):
    model = SlowModel(run_s=0.0)

    async def scenario(batcher):
        began = time.perf_counter()
        outputs = await batcher.infer(rows(1.5), ["y"])
        return outputs, time.perf_counter() - began

    outputs, elapsed = run_scenario(scenario, model, slots, timeout_s=5.0)
    assert elapsed < 1.0  # the old policy held it for the whole 5 s timeout
    assert model.batch_sizes == [1] and outputs["y"].tolist() == [[3.0, 3.0, 3.0]]


@pytest.mark.parametrize("slots", [1, 2])
def test_requests_arriving_during_a_run_form_the_next_batch(slots):
    model = SlowModel(run_s=0.3)

    async def scenario(batcher):
        first = asyncio.ensure_future(batcher.infer(rows(0), ["y"]))
        await asyncio.sleep(0.05)  # the first runs alone, at once
        later = []
        for index in range(1, 6):
            later.append(asyncio.ensure_future(batcher.infer(rows(index, count=index), ["y"])))
            await asyncio.sleep(0.01)
        return await asyncio.gather(first, *later)

    # The timeout is long: with a second slot free, the five wait until the first run ends (the server idles).
    results = run_scenario(scenario, model, slots, timeout_s=5.0)
    assert model.batch_sizes == [1, 15]
    for index, result in enumerate(results):
        assert result["y"].shape == (max(index, 1), 3) and (result["y"] == 2 * index).all()


def test_a_free_slot_waits_for_company_at_most_the_timeout():
    model = SlowModel(run_s=1.0)

    async def scenario(batcher):
        first = asyncio.ensure_future(batcher.infer(rows(0), ["y"]))
        await asyncio.sleep(0.05)
        began = time.perf_counter()
        second = await batcher.infer(rows(1), ["y"])  # a run is in flight and a slot free: waits 0.1 s
        waited = time.perf_counter() - began
        await first
        return second, waited

    second, waited = run_scenario(scenario, model, slots=2, timeout_s=0.1)
    assert 1.05 < waited < 1.6  # the timeout (0.1 s) and its own run (1 s), not the first run's end
    assert model.batch_sizes == [1, 1] and (second["y"] == 2).all()


def test_an_abandoned_request_is_not_run():
    model = SlowModel(run_s=0.3)

    async def scenario(batcher):
        first = asyncio.ensure_future(batcher.infer(rows(0), ["y"]))
        await asyncio.sleep(0.05)
        abandoned = asyncio.ensure_future(batcher.infer(rows(1, count=4), ["y"]))
        kept = asyncio.ensure_future(batcher.infer(rows(2), ["y"]))
        await asyncio.sleep(0.05)
        abandoned.cancel()  # its client went away while the first run was in flight
        return await asyncio.gather(first, kept)

    first, kept = run_scenario(scenario, model, slots=1, timeout_s=0.01)
    assert model.batch_sizes == [1, 1] and (kept["y"] == 4).all() and (first["y"] == 0).all()


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

"""A bounded load test on loopback: 8 clients back to back, no failures, steady server memory."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import served_models as models
from conftest import serve_in_subprocess

from toolkit.serve import codec
from toolkit.serve.bench import RssSampler, bench_server, rss_bytes

DURATION_S = 5.0  # scripts/bench_serve.py runs the same load for 20 s


@pytest.mark.slow
def test_eight_clients_no_failures_steady_memory(model_dir):
    paths = [str(model_dir / "cnn.onnx"), str(model_dir / "transformer.onnx")]
    with serve_in_subprocess(*paths, "--provider", "cpu") as (url, process):
        for model in ("cnn", "transformer"):
            with RssSampler(process.pid) as memory:
                (result,) = bench_server(
                    url, model, [1], concurrency=8, duration_s=DURATION_S, max_requests=200_000
                )
            print(
                f"{model}: {result.requests} requests, {result.failures} failed, p50 {result.p50_ms:.2f} ms, "
                f"p99 {result.p99_ms:.2f} ms, {result.requests_per_s:.0f} req/s, RSS growth {memory.growth:+.1%}"
            )
            assert result.failures == 0, result.first_error
            assert result.requests > 100
            assert result.p99_ms > 0
            assert memory.growth < 0.10


LARGE_ELEMENTS = 15_675_000  # 62.7 MB of FP32, the probe's large request
LARGE_ROUNDS = 1
LARGE_CLIENTS = 8


def send_large(url: str, values, binary: bool) -> np.ndarray:
    body, header_length = codec.encode_request({"x": values}, binary=binary, binary_outputs=True)
    headers = {codec.HEADER_LENGTH: str(header_length)} if header_length is not None else {}
    response = httpx.post(f"{url}/v2/models/log/infer", content=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text[:300]
    return codec.decode_response(response.content, response.headers.get(codec.HEADER_LENGTH))["y"]


@pytest.mark.slow
def test_large_requests_leave_memory_as_they_found_it(tmp_path):
    """8 concurrent 62.7 MB requests, twice, then JSON ones: peak bounded by the large-request slots,
    and RSS back near where it started once they are answered."""
    path = models.build_log(tmp_path / "log.onnx")
    values = np.random.default_rng(0).uniform(0.5, 2.0, LARGE_ELEMENTS).astype(np.float32)
    expected_head = np.log(values[:1000])
    with serve_in_subprocess(str(path), "--provider", "cpu", "--max-request-mb", "100") as (url, process):
        send_large(url, values[:1000], binary=True)  # warm: sessions, arenas, imports
        time.sleep(0.5)
        before = rss_bytes(process.pid)
        with RssSampler(process.pid, interval_s=0.05) as memory, ThreadPoolExecutor(LARGE_CLIENTS) as pool:
            for _ in range(LARGE_ROUNDS):
                for output in pool.map(lambda _: send_large(url, values, True), range(LARGE_CLIENTS)):
                    assert output.shape == values.shape
                    np.testing.assert_allclose(output[:1000], expected_head, rtol=1e-6)
            json_values = values[: LARGE_ELEMENTS // 4]  # about 60 MB once written as JSON text
            for output in pool.map(lambda _: send_large(url, json_values, False), range(2)):
                np.testing.assert_allclose(output[:1000], expected_head, rtol=1e-6)
        time.sleep(1.0)
        after = rss_bytes(process.pid)
        peak = max(memory.samples)
    megabyte = 1024 * 1024
    print(
        f"server RSS: {before / megabyte:.0f} MB before, peak {peak / megabyte:.0f} MB during "
        f"{LARGE_ROUNDS}x{LARGE_CLIENTS} binary + 2 JSON large requests, {after / megabyte:.0f} MB after"
    )
    assert after - before < 200 * megabyte
    assert peak < before + 1200 * megabyte

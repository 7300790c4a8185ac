"""A bounded load test on loopback: 8 clients back to back, no failures, steady server memory."""

from __future__ import annotations

import pytest
from conftest import serve_in_subprocess

from toolkit.serve.bench import RssSampler, bench_server

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

"""`toolkit serve --engine ray`: the same v2 routes as a Ray Serve deployment on a local one-node cluster.

One `toolkit serve` process (2 replicas) serves all three checks, to keep Ray's cold start to one:
tritonclient gets onnxruntime's numbers; both replicas take traffic; a replica killed during a
bounded load test is replaced, and no request is lost beyond one retry by the client.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import numpy as np
import onnxruntime
import pytest
import served_models as models
import tritonclient.http as triton
from conftest import ray_server

from toolkit.serve.ray_engine import REPLICA_HEADER

pytestmark = pytest.mark.slow
pytest.importorskip("ray.serve")

LOAD_S = 8.0
LOAD_CLIENTS = 4


def replica_of(url: str) -> str:
    return httpx.get(f"{url}/v2/models/cnn", timeout=10).headers[REPLICA_HEADER]


def test_ray_serve_replicas_numbers_spread_and_replacement(model_dir):
    cnn = model_dir / "cnn.onnx"
    with ray_server(str(cnn), "--replicas", "2", "--provider", "cpu") as (url, cold_start_s):
        print(f"\nRay cold start to ready (2 replicas): {cold_start_s:.1f} s")
        # tritonclient against Ray's proxy: onnxruntime's numbers, JSON and binary.
        image = models.cnn_input(3)
        session = onnxruntime.InferenceSession(str(cnn), providers=["CPUExecutionProvider"])
        expected = session.run(None, {"input": image})[0]
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        try:
            for binary in (True, False):
                tensor = triton.InferInput("input", list(image.shape), "FP32")
                tensor.set_data_from_numpy(image, binary_data=binary)
                result = client.infer(
                    "cnn", [tensor], outputs=[triton.InferRequestedOutput("logits", binary_data=binary)]
                )
                np.testing.assert_array_equal(result.as_numpy("logits"), expected)
        finally:
            client.close()

        # Both replicas take traffic.
        replicas = {replica_of(url) for _ in range(40)}
        assert len(replicas) == 2, replicas

        # A bounded load test; one replica is killed a third of the way in.
        outcomes = {"ok": 0, "retried": 0, "lost": 0}
        seen_after: set[str] = set()
        lock = threading.Lock()
        deadline = time.monotonic() + LOAD_S
        body = {
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, 1, 28, 28],
                    "datatype": "FP32",
                    "data": models.cnn_input(1).reshape(-1).tolist(),
                }
            ]
        }
        killed_at = []

        def client_loop():
            with httpx.Client(timeout=30) as http:
                while time.monotonic() < deadline:
                    for attempt in (0, 1):  # one retry, no more
                        try:
                            response = http.post(f"{url}/v2/models/cnn/infer", json=body)
                        except httpx.TransportError:
                            continue
                        if response.status_code == 200:
                            with lock:
                                outcomes["retried" if attempt else "ok"] += 1
                                if killed_at:
                                    seen_after.add(response.headers[REPLICA_HEADER])
                            break
                    else:
                        with lock:
                            outcomes["lost"] += 1

        threads = [threading.Thread(target=client_loop) for _ in range(LOAD_CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(LOAD_S / 3)
        victim = int(sorted(replicas)[0])
        os.kill(victim, signal.SIGKILL)
        killed_at.append(time.monotonic())
        for thread in threads:
            thread.join(LOAD_S + 60)
        # The controller replaces the replica: a new process takes traffic beside the survivor.
        replaced_within = None
        while time.monotonic() - killed_at[0] < 90:
            now = {replica_of(url) for _ in range(10)}
            seen_after |= now
            if len(seen_after - replicas) >= 1 and len(now) == 2:
                replaced_within = time.monotonic() - killed_at[0]
                break
            time.sleep(0.5)
        print(
            f"replica kill under {LOAD_CLIENTS} clients for {LOAD_S:.0f} s: {outcomes['ok']} ok, "
            f"{outcomes['retried']} ok after one retry, {outcomes['lost']} lost; "
            f"replacement serving within {replaced_within} s"
        )
        assert outcomes["lost"] == 0
        assert outcomes["ok"] > 20
        assert replaced_within is not None
        assert str(victim) not in {replica_of(url) for _ in range(20)}

"""`serve` and `bench` as commands: a real server process, SIGTERM, provider errors, the bench's JSON."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import numpy as np
import onnxruntime
import pytest
import served_models as models
from click.testing import CliRunner
from conftest import keep_alive_median_ms, serve_in_subprocess

from toolkit.errors import InputError, UsageError
from toolkit.serve.bench import HttpInferClient
from toolkit.serve.commands import bench_command, serve_command


def test_sigterm_finishes_the_request_in_flight(tmp_path):
    # A run of about 2 s is in flight when the server is told to stop; its answer must still arrive.
    path = models.build_slow(tmp_path / "slow.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.full((1, 512), 0.5, dtype=np.float32)
    with serve_in_subprocess(str(path), "--provider", "cpu") as (url, process):
        # Calibrated through the server: its sessions run faster than a default local one (no spinning).
        calibration = HttpInferClient(url)
        calibration.infer("slow", {"x": x, "iterations": np.array(2000)})
        began = time.perf_counter()
        calibration.infer("slow", {"x": x, "iterations": np.array(4000)})
        iterations = int(min(5e7, 4000 * 2.0 / (time.perf_counter() - began)))
        calibration.close()
        feeds = {"x": x, "iterations": np.array(iterations)}
        outcome = {}

        def request():
            client = HttpInferClient(url)
            outcome["y"] = client.infer("slow", feeds)["y"]
            outcome["finished"] = time.monotonic()

        thread = threading.Thread(target=request)
        thread.start()
        time.sleep(0.5)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        thread.join(30)
        # uvicorn shuts down gracefully, then re-raises the captured SIGTERM: the conventional exit status.
        assert process.wait(30) in (0, -signal.SIGTERM)
        log = process.stdout.read().decode()
    np.testing.assert_allclose(outcome["y"], session.run(None, feeds)[0], rtol=1e-5, atol=1e-5)
    assert outcome["finished"] > signalled  # it was in flight when the signal came
    assert "model slow:" in log and "CPUExecutionProvider" in log  # the provider choice is logged
    assert "Shutting down" in log and "Finished server process" in log


@pytest.mark.skipif(
    "CUDAExecutionProvider" in onnxruntime.get_available_providers(), reason="CUDA is present here"
)
def test_absent_provider_is_a_clear_error(model_dir):
    result = CliRunner().invoke(serve_command, [str(model_dir / "cnn.onnx"), "--provider", "cuda"])
    assert isinstance(result.exception, UsageError)
    assert "provider 'cuda' (CUDAExecutionProvider) is not available" in str(result.exception)


def test_missing_file_and_duplicate_names(model_dir, tmp_path):
    result = CliRunner().invoke(serve_command, [str(tmp_path / "absent.onnx")])
    assert isinstance(result.exception, InputError) and "no such file" in str(result.exception)
    copy = tmp_path / "cnn.onnx"
    copy.write_bytes((model_dir / "cnn.onnx").read_bytes())
    result = CliRunner().invoke(serve_command, [str(model_dir / "cnn.onnx"), str(copy)])
    assert isinstance(result.exception, UsageError) and "already taken" in str(result.exception)


def test_bench_in_process_and_against_a_server(model_dir, server_url, tmp_path):
    report = tmp_path / "bench.json"
    arguments = [
        str(model_dir / "cnn.onnx"),
        "--provider",
        "cpu",
        "--batch-sizes",
        "1,4",
        "--concurrency",
        "2",
    ]
    result = CliRunner().invoke(
        bench_command, [*arguments, "--duration", "0.5", "--url", server_url, "--json", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert "p99 ms" in result.output
    rows = json.loads(report.read_text())
    assert [(row["mode"], row["batch_size"]) for row in rows] == [
        ("in-process", 1),
        ("in-process", 4),
        (server_url, 1),
        (server_url, 4),
    ]
    for row in rows:
        assert row["failures"] == 0 and row["requests"] > 0
        assert row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["samples_per_s"] == pytest.approx(row["requests_per_s"] * row["batch_size"])


def test_bench_by_model_name_with_json_tensors(server_url):
    result = CliRunner().invoke(
        bench_command,
        ["transformer", "--url", server_url, "--batch-sizes", "2", "--duration", "0.3", "--json-data"],
    )
    assert result.exit_code == 0, result.output
    assert "transformer" in result.output


def test_bench_reports_an_unreachable_server():
    result = CliRunner().invoke(bench_command, ["cnn", "--url", "http://127.0.0.1:9", "--duration", "0.1"])
    assert isinstance(result.exception, InputError) and "cannot reach the server" in str(result.exception)


def test_two_worker_processes_serve(model_dir):
    with serve_in_subprocess(str(model_dir / "mixed.onnx"), "--workers", "2") as (url, _):
        response = httpx.post(
            f"{url}/v2/models/mixed/infer",
            json={
                "inputs": [
                    {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
                    {"name": "flag", "shape": [1, 3], "datatype": "BOOL", "data": [False, True, True]},
                ]
            },
        )
        assert response.status_code == 200
        assert response.json()["outputs"][0]["data"] == [-1, 2, 3]
        # uvicorn's shared listener has proto 0, so asyncio leaves Nagle on unless the server sets TCP_NODELAY.
        assert keep_alive_median_ms(url) < 20

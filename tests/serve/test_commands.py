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
from conftest import serve_in_subprocess

from toolkit.errors import InputError, UsageError
from toolkit.serve.bench import HttpInferClient
from toolkit.serve.commands import bench_command, serve_command


def test_sigterm_finishes_the_request_in_flight(model_dir):
    # A 1.5 s batch timeout keeps one request in flight while the server is told to stop.
    arguments = (
        str(model_dir / "cnn.onnx"),
        "--provider",
        "cpu",
        "--max-batch-size",
        "8",
        "--batch-timeout-ms",
        "1500",
    )
    with serve_in_subprocess(*arguments) as (url, process):
        image = models.cnn_input(1)
        outcome = {}

        def request():
            client = HttpInferClient(url)
            began = time.monotonic()
            outcome["logits"] = client.infer("cnn", {"input": image})["logits"]
            outcome["seconds"] = time.monotonic() - began

        thread = threading.Thread(target=request)
        thread.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        thread.join(20)
        # uvicorn shuts down gracefully, then re-raises the captured SIGTERM: the conventional exit status.
        assert process.wait(20) in (0, -signal.SIGTERM)
        log = process.stdout.read().decode()
    session = onnxruntime.InferenceSession(str(model_dir / "cnn.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        outcome["logits"], session.run(None, {"input": image})[0], rtol=1e-5, atol=1e-5
    )
    assert outcome["seconds"] > 1.0
    assert "model cnn:" in log and "CPUExecutionProvider" in log  # the provider choice is logged
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

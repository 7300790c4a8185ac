"""Models built from code, and real servers on 127.0.0.1: uvicorn in a thread, or `toolkit serve` in a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import served_models as models  # noqa: E402  (tests/serve/served_models.py, beside this file)

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("serve_models")
    for builder in (
        models.build_cnn,
        models.build_transformer,
        models.build_resnet,
        models.build_mixed,
        models.build_strings,
    ):
        builder(directory / f"{builder.__name__.removeprefix('build_')}.onnx")
    return directory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve_in_thread(settings):
    """uvicorn on a socket bound here (no port race), in a daemon thread; yields the base URL."""
    import uvicorn

    from toolkit.serve.app import HTTP_PROTOCOL, create_app

    app = create_app(settings)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, http=HTTP_PROTOCOL))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        listener.close()


@pytest.fixture(scope="session")
def server_url(model_dir):
    """One server holding every test model, with a 1 MiB request limit to test the 413 path cheaply."""
    from toolkit.serve.app import ServeSettings

    paths = tuple(str(model_dir / f"{name}.onnx") for name in ("cnn", "transformer", "mixed", "strings"))
    with serve_in_thread(ServeSettings(paths, provider="cpu", max_request_bytes=1024 * 1024)) as url:
        yield url


@pytest.fixture(scope="session")
def batching_url(model_dir):
    from toolkit.serve.app import ServeSettings

    paths = tuple(str(model_dir / f"{name}.onnx") for name in ("cnn", "transformer", "mixed"))
    settings = ServeSettings(paths, provider="cpu", max_batch_size=16, batch_timeout_ms=20)
    with serve_in_thread(settings) as url:
        yield url


def keep_alive_median_ms(url: str, path: str = "/v2/models/mixed", count: int = 15) -> float:
    """Median time of back-to-back GETs on one keep-alive connection: ~1 ms, ~44 ms when Nagle is on."""
    import statistics

    from toolkit.serve.bench import HttpInferClient

    client = HttpInferClient(url)
    try:
        client.request("GET", path)
        times = []
        for _ in range(count):
            began = time.perf_counter()
            client.request("GET", path)
            times.append((time.perf_counter() - began) * 1000)
    finally:
        client.close()
    return statistics.median(times)


SERVE_COMMAND = "from toolkit.serve.commands import serve_command; serve_command()"


@contextlib.contextmanager
def serve_in_subprocess(*arguments: str, ready_timeout_s: float = 60):
    """`toolkit serve` as a real process; yields (url, process). Killed if the test leaves it running."""
    port = free_port()
    command = [sys.executable, "-c", SERVE_COMMAND, *arguments, "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        command,
        cwd=REPOSITORY_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout_s
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {process.returncode}: {process.stdout.read().decode()}"
                )
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()


@contextlib.contextmanager
def ray_server(*arguments: str, ready_timeout_s: float = 240):
    """`toolkit serve --engine ray` in its own session, so Ray's processes go with it whatever happens."""
    port = free_port()
    command = [
        sys.executable,
        "-c",
        SERVE_COMMAND,
        *arguments,
        "--engine",
        "ray",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    began = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=REPOSITORY_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "RAY_USAGE_STATS_ENABLED": "0"},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {process.returncode}: {process.stdout.read().decode()[-3000:]}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() - began > ready_timeout_s:
                raise RuntimeError("the Ray deployment did not become ready")
            time.sleep(0.25)
        yield url, time.monotonic() - began
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever of Ray's is left in the session
        process.wait()
        process.stdout.close()

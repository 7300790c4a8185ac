"""Latency percentiles and throughput of a model, run in-process by onnxruntime or through a v2 server.

Both modes drive the same closed loop: `concurrency` threads, each sending its next request as soon
as the previous one answers, for `duration_s` seconds per batch size.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from toolkit.errors import InputError, UsageError
from toolkit.io import atomic_output, first_line
from toolkit.serve import codec


@dataclass
class BenchResult:
    mode: str  # "in-process" or the server URL
    model: str
    batch_size: int
    concurrency: int
    duration_s: float
    requests: int
    failures: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    requests_per_s: float
    samples_per_s: float
    first_error: str | None = None


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype
    shape: tuple  # ints; anything else (None, a name, -1) is variable


def example_feeds(specs: Sequence[InputSpec], batch_size: int, dynamic_size: int = 16, seed: int = 0) -> dict:
    """Random inputs: the first variable axis is the batch, other variable axes get `dynamic_size`."""
    generator = np.random.default_rng(seed)
    feeds = {}
    for spec in specs:
        shape = []
        for axis, size in enumerate(spec.shape):
            variable = not isinstance(size, int) or size < 0
            shape.append((batch_size if axis == 0 else dynamic_size) if variable else size)
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            value = generator.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu":
            value = generator.integers(0, 10, size=shape).astype(dtype)  # small: safe as token ids or indices
        elif dtype.kind == "b":
            value = generator.integers(0, 2, size=shape).astype(bool)
        else:
            raise UsageError(f"input {spec.name!r}: cannot generate {dtype} data for a benchmark")
        feeds[spec.name] = value
    return feeds


class HttpInferClient:
    """A minimal keep-alive v2 client on http.client: little client overhead, so the bench measures the server."""

    def __init__(self, url: str, timeout_s: float = 30.0):
        parts = urlsplit(url if "//" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise UsageError(f"server URL {url!r} must look like http://127.0.0.1:8000")
        self.url = f"http://{parts.hostname}:{parts.port or 80}"
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        try:
            self.connection.request(method, path, body=body, headers=headers or {})
            response = self.connection.getresponse()
            return response.status, response.getheader(codec.HEADER_LENGTH), response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()  # reconnect on the next request
            raise

    def model_inputs(self, model: str) -> list[InputSpec]:
        status, _, body = self.request("GET", f"/v2/models/{model}")
        if status != 200:
            raise InputError(f"{self.url}: model {model!r}: {json.loads(body).get('error', status)}")
        return [
            InputSpec(item["name"], codec.numpy_dtype_of(item["datatype"]), tuple(item["shape"]))
            for item in json.loads(body)["inputs"]
        ]

    def infer(self, model: str, feeds: dict, binary: bool = True) -> dict[str, np.ndarray]:
        body, header_length = codec.encode_request(feeds, binary=binary, binary_outputs=binary)
        headers = {"Content-Type": codec.BINARY_CONTENT_TYPE if header_length else codec.JSON_CONTENT_TYPE}
        if header_length is not None:
            headers[codec.HEADER_LENGTH] = str(header_length)
        status, response_length, content = self.request("POST", f"/v2/models/{model}/infer", body, headers)
        if status != 200:
            raise InputError(f"HTTP {status}: {json.loads(content).get('error', '')}")
        return codec.decode_response(content, response_length)

    def close(self) -> None:
        self.connection.close()


def closed_loop(
    make_call: Callable[[], Callable[[], object]],
    concurrency: int,
    duration_s: float,
    max_requests: int | None = None,
) -> tuple[list[float], int, str | None, float]:
    """Run `concurrency` threads of back-to-back calls; returns latencies (s), failures, first error, wall time."""
    latencies: list[float] = []
    failures = [0]
    first_error: list[str] = []
    lock = threading.Lock()
    start_barrier = threading.Barrier(concurrency + 1)
    budget = [max_requests if max_requests is not None else float("inf")]

    def worker():
        call = make_call()
        try:
            call()  # warm-up: connection, first-run allocations; not timed
        except Exception as error:
            with lock:
                failures[0] += 1
                first_error.append(first_line(error))
        start_barrier.wait()
        mine = []
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            began = time.perf_counter()
            try:
                call()
            except Exception as error:
                with lock:
                    failures[0] += 1
                    if not first_error:
                        first_error.append(first_line(error))
                continue
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)
        close = getattr(call, "close", None)
        if close:
            close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    deadline = float("inf")
    for thread in threads:
        thread.start()
    start_barrier.wait()
    began = time.perf_counter()
    deadline = began + duration_s
    for thread in threads:
        thread.join(duration_s + 60)
    return latencies, failures[0], (first_error[0] if first_error else None), time.perf_counter() - began


def summarise(mode: str, model: str, batch_size: int, concurrency: int, outcome) -> BenchResult:
    latencies, failures, first_error, elapsed = outcome
    values = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return BenchResult(
        mode=mode,
        model=model,
        batch_size=batch_size,
        concurrency=concurrency,
        duration_s=round(elapsed, 3),
        requests=len(latencies),
        failures=failures,
        p50_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        mean_ms=float(np.mean(values)),
        requests_per_s=len(latencies) / elapsed,
        samples_per_s=len(latencies) * batch_size / elapsed,
        first_error=first_error,
    )


def bench_in_process(
    model_path: str | os.PathLike,
    provider: str = "auto",
    batch_sizes: Sequence[int] = (1,),
    concurrency: int = 1,
    duration_s: float = 5.0,
    threads: int | None = None,
    dynamic_size: int = 16,
) -> list[BenchResult]:
    """onnxruntime on this process's threads: the floor any server adds its protocol cost to."""
    from toolkit.serve.repository import load_models

    (model,) = load_models([model_path], provider, threads).values()
    specs = [InputSpec(spec.name, spec.dtype, spec.shape) for spec in model.session.inputs]
    results = []
    for batch_size in batch_sizes:
        feeds = model.validate(example_feeds(specs, batch_size, dynamic_size))

        def make_call(feeds=feeds):
            return lambda: model.run(feeds)

        outcome = closed_loop(make_call, concurrency, duration_s)
        results.append(summarise("in-process", model.name, batch_size, concurrency, outcome))
    return results


def bench_server(
    url: str,
    model: str,
    batch_sizes: Sequence[int] = (1,),
    concurrency: int = 1,
    duration_s: float = 5.0,
    binary: bool = True,
    dynamic_size: int = 16,
    max_requests: int | None = None,
) -> list[BenchResult]:
    """The same loop against a running v2 server, one keep-alive connection per client thread."""
    probe = HttpInferClient(url)
    try:
        specs = probe.model_inputs(model)
    except OSError as error:
        raise InputError(
            f"{url}: cannot reach the server ({first_line(error)}); is `toolkit serve` running?"
        ) from None
    finally:
        probe.close()
    results = []
    for batch_size in batch_sizes:
        feeds = example_feeds(specs, batch_size, dynamic_size)

        def make_call(feeds=feeds):
            client = HttpInferClient(url)

            def call():
                return client.infer(model, feeds, binary=binary)

            call.close = client.close
            return call

        outcome = closed_loop(make_call, concurrency, duration_s, max_requests)
        results.append(summarise(probe.url, model, batch_size, concurrency, outcome))
    return results


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise InputError(f"process {pid}: no VmRSS in /proc/{pid}/status")


class RssSampler:
    """Samples a process's RSS in a thread while a load runs; `growth` compares the first and last quarters."""

    def __init__(self, pid: int, interval_s: float = 0.1):
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            self.samples.append(rss_bytes(self.pid))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> float:
        """Mean RSS of the last quarter over the first quarter, minus one (0.05 is 5% growth)."""
        quarter = max(1, len(self.samples) // 4)
        first, last = np.mean(self.samples[:quarter]), np.mean(self.samples[-quarter:])
        return float(last / first - 1)


def results_table(results: Sequence[BenchResult]):
    from rich.table import Table

    table = Table(title="toolkit bench")
    for column in (
        "mode",
        "model",
        "batch",
        "clients",
        "requests",
        "failed",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "req/s",
        "samples/s",
    ):
        table.add_column(column, justify="left" if column in ("mode", "model") else "right")
    for result in results:
        table.add_row(
            result.mode,
            result.model,
            str(result.batch_size),
            str(result.concurrency),
            str(result.requests),
            str(result.failures),
            f"{result.p50_ms:.3f}",
            f"{result.p90_ms:.3f}",
            f"{result.p99_ms:.3f}",
            f"{result.requests_per_s:.1f}",
            f"{result.samples_per_s:.1f}",
        )
    return table


def write_json(results: Sequence[BenchResult], path: str | os.PathLike) -> Path:
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps([asdict(result) for result in results], indent=2) + "\n")
    return Path(path)

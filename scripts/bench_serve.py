"""The serving figures: protocol cost at batch 1, dynamic batching's throughput gain, a 20 s load test.

    .venv/bin/python scripts/bench_serve.py [--duration 10] [--load-duration 20] [--json figures.json]

Each server is a real `toolkit serve` subprocess on 127.0.0.1; the clients are this process's threads.
Prints the numbers and the ratios; the targets from the issue are shown beside them, not asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "serve")]

from conftest import serve_in_subprocess  # noqa: E402  (the tests' subprocess launcher)

import models  # noqa: E402  (tests/serve/models.py: the tutorial CNN, a small transformer, a ResNet-8)
from toolkit.serve.bench import RssSampler, bench_in_process, bench_server  # noqa: E402


def protocol_cost(model_dir: Path, duration_s: float) -> dict:
    """Served p50 minus in-process p50, tutorial CNN, batch 1, one client, binary tensor data."""
    cnn = str(model_dir / "cnn.onnx")
    (local,) = bench_in_process(cnn, "cpu", [1], concurrency=1, duration_s=duration_s)
    with serve_in_subprocess(cnn, "--provider", "cpu") as (url, _):
        (served,) = bench_server(url, "cnn", [1], concurrency=1, duration_s=duration_s, binary=True)
        (served_json,) = bench_server(url, "cnn", [1], concurrency=1, duration_s=duration_s, binary=False)
    return {
        "in_process_p50_ms": local.p50_ms,
        "served_binary_p50_ms": served.p50_ms,
        "served_json_p50_ms": served_json.p50_ms,
        "served_minus_in_process_p50_ms": served.p50_ms - local.p50_ms,
        "served_json_minus_in_process_p50_ms": served_json.p50_ms - local.p50_ms,
        "failures": served.failures + served_json.failures,
    }


def batching_gain(model_dir: Path, duration_s: float, clients: int = 8) -> dict:
    """Throughput of a small ResNet under 8 clients, with and without dynamic batching."""
    resnet = str(model_dir / "resnet.onnx")
    runs = {}
    for label, extra in (
        ("unbatched", []),
        ("batched", ["--max-batch-size", "32", "--batch-timeout-ms", "2"]),
    ):
        with serve_in_subprocess(resnet, "--provider", "cpu", *extra) as (url, _):
            (runs[label],) = bench_server(url, "resnet", [1], concurrency=clients, duration_s=duration_s)
    return {
        "clients": clients,
        "unbatched_requests_per_s": runs["unbatched"].requests_per_s,
        "batched_requests_per_s": runs["batched"].requests_per_s,
        "unbatched_p50_ms": runs["unbatched"].p50_ms,
        "batched_p50_ms": runs["batched"].p50_ms,
        "throughput_ratio": runs["batched"].requests_per_s / runs["unbatched"].requests_per_s,
        "failures": runs["unbatched"].failures + runs["batched"].failures,
    }


def load_test(model_dir: Path, duration_s: float, clients: int = 8) -> dict:
    """8 clients back to back against the CNN, then the transformer, sampling the server's RSS."""
    figures = {}
    paths = [str(model_dir / "cnn.onnx"), str(model_dir / "transformer.onnx")]
    with serve_in_subprocess(*paths, "--provider", "cpu") as (url, process):
        for model in ("cnn", "transformer"):
            with RssSampler(process.pid) as memory:
                (result,) = bench_server(url, model, [1], concurrency=clients, duration_s=duration_s)
            figures[model] = {
                **{key: value for key, value in asdict(result).items() if key not in ("mode", "model")},
                "rss_first_quarter_mib": sum(memory.samples[: len(memory.samples) // 4])
                / max(1, len(memory.samples) // 4)
                / 2**20,
                "rss_growth": memory.growth,
            }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per latency/throughput run")
    parser.add_argument(
        "--load-duration", type=float, default=20.0, help="seconds per model in the load test"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_serve.") as directory:
        model_dir = Path(directory)
        for builder in (models.build_cnn, models.build_transformer, models.build_resnet):
            builder(model_dir / f"{builder.__name__.removeprefix('build_')}.onnx")
        figures = {
            "protocol_cost": protocol_cost(model_dir, arguments.duration),
            "dynamic_batching": batching_gain(model_dir, arguments.duration),
            "load_test": load_test(model_dir, arguments.load_duration),
        }

    cost, batching = figures["protocol_cost"], figures["dynamic_batching"]
    print(
        f"CNN batch 1: in-process p50 {cost['in_process_p50_ms']:.3f} ms, served p50 {cost['served_binary_p50_ms']:.3f} ms "
        f"(binary), {cost['served_json_p50_ms']:.3f} ms (JSON)"
    )
    print(
        f"  served minus in-process p50: {cost['served_minus_in_process_p50_ms']:.3f} ms (target <= 2 ms, binary)"
    )
    print(
        f"ResNet-8, {batching['clients']} clients: {batching['unbatched_requests_per_s']:.0f} req/s unbatched, "
        f"{batching['batched_requests_per_s']:.0f} req/s batched; ratio {batching['throughput_ratio']:.2f}x (target >= 2x)"
    )
    for model, load in figures["load_test"].items():
        print(
            f"load test {model}: {load['requests']} requests in {load['duration_s']:.0f} s, {load['failures']} failed, "
            f"p50 {load['p50_ms']:.2f} ms, p99 {load['p99_ms']:.2f} ms, {load['requests_per_s']:.0f} req/s, "
            f"RSS {load['rss_first_quarter_mib']:.0f} MiB, growth {load['rss_growth']:+.1%} (target < 10%)"
        )
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

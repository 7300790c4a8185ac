"""The serving figures: protocol cost at batch 1, dynamic batching's throughput gain, a 20 s load test.

    .venv/bin/python scripts/bench_serve.py [--duration 10] [--repeats 3] [--load-duration 20] [--json figures.json]
    .venv/bin/python scripts/bench_serve.py --against kserve [--duration 5] [--repeats 3]
    .venv/bin/python scripts/bench_serve.py --against ray [--duration 5] [--repeats 3]

`--against kserve` measures instead, in one run: the protocol overhead (served p50 minus in-process
p50, tutorial CNN, batch 1, one client) of `toolkit serve` and of KServe's own Python ModelServer
(scripts/kserve_onnx_server.py in .venv-kserve), JSON and binary tensors, interleaved `--repeats`
times; and toolkit's batched throughput under 8 clients against the in-process onnxruntime
batching bound (images/s of back-to-back batch-8 runs, no HTTP).

Each server is a real `toolkit serve` subprocess on 127.0.0.1; the clients are this process's threads,
so on a small machine client and server share the cores. Prints the numbers and the ratios; the
targets from the issue are shown beside them, not asserted.

Batching is measured fairly: the unbatched and the batched server each get their best onnxruntime
thread count and run slots from a short sweep, then the two best are run alternately `--repeats`
times (medians, min-max). Beside the ratio stands what batching can give at most on this CPU:
onnxruntime's own per-image cost at batch 1 over that at batch 8, in-process, with no HTTP at all.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "serve")]

import served_models as models  # noqa: E402  (the tutorial CNN, a small transformer, the ResNets)
from conftest import free_port, ray_server, serve_in_subprocess  # noqa: E402  (the tests' subprocess launcher)

from toolkit.serve.bench import RssSampler, bench_in_process, bench_server  # noqa: E402
from toolkit.serve.repository import machine_cores  # noqa: E402

# (onnxruntime intra-op threads, run slots): the server settings each side of the comparison may pick from.
UNBATCHED_SETTINGS = ((1, 2), (2, 1), (2, 2))
BATCHED_SETTINGS = ((1, 1), (2, 1), (1, 2), (2, 2))
BATCHING = ("--max-batch-size", "32", "--batch-timeout-ms", "2")


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


def per_image_ms(model_path: str, duration_s: float) -> dict:
    """In-process onnxruntime, one stream, p50 per image at batch 1 and 8, for 1 and 2 intra-op threads."""
    figures = {}
    for threads in (1, 2):
        for result in bench_in_process(model_path, "cpu", [1, 8], duration_s=duration_s, threads=threads):
            figures[f"batch{result.batch_size}_threads{threads}"] = result.p50_ms / result.batch_size
    return figures


def served_throughput(model_path: str, name: str, arguments, duration_s: float, clients: int):
    with serve_in_subprocess(model_path, "--provider", "cpu", *arguments) as (url, _):
        (result,) = bench_server(url, name, [1], concurrency=clients, duration_s=duration_s)
    return result


def spread(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def batching_gain(model_path: str, name: str, duration_s: float, repeats: int, clients: int = 8) -> dict:
    """Throughput under 8 clients with and without dynamic batching, each side at its best settings."""
    images = per_image_ms(model_path, min(duration_s, 3.0))
    sweep_s = max(1.0, duration_s / 3)
    sweep = {"unbatched": {}, "batched": {}}
    for label, candidates, extra in (
        ("unbatched", UNBATCHED_SETTINGS, ()),
        ("batched", BATCHED_SETTINGS, BATCHING),
    ):
        for threads, slots in candidates:
            arguments = ("--threads", str(threads), "--run-slots", str(slots), *extra)
            result = served_throughput(model_path, name, arguments, sweep_s, clients)
            sweep[label][f"threads {threads}, slots {slots}"] = (result.requests_per_s, arguments)
    best = {label: max(runs.items(), key=lambda item: item[1][0]) for label, runs in sweep.items()}
    rates, ratios, p50s, failures = {"unbatched": [], "batched": []}, [], {"unbatched": [], "batched": []}, 0
    for _ in range(repeats):  # alternating, so slow spells of a noisy machine hit both sides alike
        for label in ("unbatched", "batched"):
            result = served_throughput(model_path, name, best[label][1][1], duration_s, clients)
            rates[label].append(result.requests_per_s)
            p50s[label].append(result.p50_ms)
            failures += result.failures
        ratios.append(rates["batched"][-1] / rates["unbatched"][-1])
    # One thread's wall time is CPU time: the cost that bounds throughput once every core is busy.
    batch1, batch8 = images["batch1_threads1"], images["batch8_threads1"]
    unbatched = statistics.median(rates["unbatched"])
    # CPU time per served request beyond onnxruntime (HTTP, both sides' Python): what batching cannot cut.
    overhead_ms = max(0.0, machine_cores() * 1000 / unbatched - images["batch1_threads1"])
    return {
        "model": name,
        "clients": clients,
        "in_process_per_image_ms": images,
        "compute_bound_ratio": batch1 / batch8,
        "overhead_cpu_ms_per_request": overhead_ms,
        "bound_ratio_with_overhead": (overhead_ms + images["batch1_threads1"]) / (overhead_ms + batch8),
        "sweep_requests_per_s": {
            label: {key: value[0] for key, value in runs.items()} for label, runs in sweep.items()
        },
        "best_settings": {label: choice[0] for label, choice in best.items()},
        "unbatched_requests_per_s": spread(rates["unbatched"]),
        "batched_requests_per_s": spread(rates["batched"]),
        "unbatched_p50_ms": spread(p50s["unbatched"]),
        "batched_p50_ms": spread(p50s["batched"]),
        "throughput_ratio": spread(ratios),
        "failures": failures,
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


KSERVE_PYTHON = ROOT / ".venv-kserve" / "bin" / "python"


@contextlib.contextmanager
def kserve_in_subprocess(model_path: str, ready_timeout_s: float = 120):
    """KServe's ModelServer on one ONNX file (it binds 0.0.0.0; the bench sends only to 127.0.0.1)."""
    import httpx

    if not KSERVE_PYTHON.is_file():
        raise SystemExit("no .venv-kserve: build it with `make .venv-kserve/.installed`")
    port = free_port()
    process = subprocess.Popen(
        [
            str(KSERVE_PYTHON),
            "-P",
            str(ROOT / "scripts" / "kserve_onnx_server.py"),
            model_path,
            "--http-port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout_s
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the KServe server exited with {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the KServe server did not become ready")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def against_kserve(model_dir: Path, duration_s: float, repeats: int) -> dict:
    """Overheads of toolkit and KServe, interleaved; then batching against the in-process bound."""
    cnn = str(model_dir / "cnn.onnx")
    overhead = {f"{server}_{mode}": [] for server in ("toolkit", "kserve") for mode in ("binary", "json")}
    failures = 0
    with (
        serve_in_subprocess(cnn, "--provider", "cpu") as (toolkit_url, _),
        kserve_in_subprocess(cnn) as kserve_url,
    ):
        for _ in range(repeats):
            (local,) = bench_in_process(cnn, "cpu", [1], concurrency=1, duration_s=duration_s)
            for server, url in (("toolkit", toolkit_url), ("kserve", kserve_url)):
                for mode in ("binary", "json"):
                    (served,) = bench_server(
                        url, "cnn", [1], concurrency=1, duration_s=duration_s, binary=mode == "binary"
                    )
                    failures += served.failures
                    overhead[f"{server}_{mode}"].append(served.p50_ms - local.p50_ms)
    resnet = str(model_dir / "resnet.onnx")
    bound, served = [], []
    cores = machine_cores()
    for _ in range(repeats):
        (in_process,) = bench_in_process(
            resnet, "cpu", [8], concurrency=1, duration_s=duration_s, threads=cores
        )
        bound.append(in_process.requests_per_s * 8)
        result = served_throughput(
            resnet, "resnet", ("--threads", str(cores), "--run-slots", "1", *BATCHING), duration_s, 8
        )
        served.append(result.requests_per_s)
        failures += result.failures
    return {
        "overhead_ms": {key: spread(values) for key, values in overhead.items()},
        "batching": {
            "model": "resnet",
            "clients": 8,
            "in_process_bound_images_per_s": spread(bound),
            "served_batched_requests_per_s": spread(served),
            "ratio": spread([s / b for s, b in zip(served, bound, strict=True)]),
        },
        "failures": failures,
    }


def against_ray(model_dir: Path, duration_s: float, repeats: int, clients: int = 4) -> dict:
    """toolkit's own server against the same app on Ray Serve (1 and 2 replicas), interleaved."""
    cnn = str(model_dir / "cnn.onnx")
    runs = {"toolkit": [], "ray_1_replica": [], "ray_2_replicas": []}
    cold_start = {}
    with (
        serve_in_subprocess(cnn, "--provider", "cpu") as (toolkit_url, _),
        ray_server(cnn, "--provider", "cpu", "--replicas", "1") as (ray1_url, cold_start["ray_1_replica"]),
    ):
        for _ in range(repeats):
            for label, url in (("toolkit", toolkit_url), ("ray_1_replica", ray1_url)):
                (result,) = bench_server(url, "cnn", [1], concurrency=clients, duration_s=duration_s)
                runs[label].append(result)
    with ray_server(cnn, "--provider", "cpu", "--replicas", "2") as (ray2_url, cold_start["ray_2_replicas"]):
        for _ in range(repeats):
            (result,) = bench_server(ray2_url, "cnn", [1], concurrency=clients, duration_s=duration_s)
            runs["ray_2_replicas"].append(result)
    return {
        "clients": clients,
        "cold_start_s": cold_start,
        **{
            label: {
                "p50_ms": spread([r.p50_ms for r in results]),
                "p99_ms": spread([r.p99_ms for r in results]),
                "requests_per_s": spread([r.requests_per_s for r in results]),
                "failures": sum(r.failures for r in results),
            }
            for label, results in runs.items()
        },
    }


def print_against_ray(figures: dict, repeats: int) -> None:
    print(
        f"Tutorial CNN batch 1, {figures['clients']} clients, binary tensors, median of {repeats} (min-max):"
    )
    for label in ("toolkit", "ray_1_replica", "ray_2_replicas"):
        row = figures[label]
        cold = figures["cold_start_s"].get(label)
        print(
            f"  {label:15} p50 {row['p50_ms']['median']:.2f} ms ({row['p50_ms']['min']:.2f}-{row['p50_ms']['max']:.2f}), "
            f"p99 {row['p99_ms']['median']:.2f} ms, {row['requests_per_s']['median']:.0f} req/s "
            f"({row['requests_per_s']['min']:.0f}-{row['requests_per_s']['max']:.0f}), {row['failures']} failed"
            + (f", cold start {cold:.1f} s" if cold is not None else "")
        )


def print_against_kserve(figures: dict, repeats: int) -> None:
    overhead = figures["overhead_ms"]
    print(
        f"Protocol overhead, tutorial CNN batch 1, served p50 minus in-process p50, median of {repeats} (min-max):"
    )
    for mode in ("binary", "json"):
        toolkit_ms, kserve_ms = overhead[f"toolkit_{mode}"], overhead[f"kserve_{mode}"]
        print(
            f"  {mode:6}: toolkit {toolkit_ms['median']:.3f} ms ({toolkit_ms['min']:.3f}-{toolkit_ms['max']:.3f}), "
            f"KServe {kserve_ms['median']:.3f} ms ({kserve_ms['min']:.3f}-{kserve_ms['max']:.3f}); "
            f"toolkit/KServe {toolkit_ms['median'] / kserve_ms['median']:.2f}x"
        )
    batching = figures["batching"]
    bound, served, ratio = (
        batching[key] for key in ("in_process_bound_images_per_s", "served_batched_requests_per_s", "ratio")
    )
    print(
        f"Batching, ResNet-8, 8 clients: served {served['median']:.0f} req/s ({served['min']:.0f}-{served['max']:.0f}), "
        f"in-process batch-8 bound {bound['median']:.0f} images/s ({bound['min']:.0f}-{bound['max']:.0f}); "
        f"{ratio['median']:.0%} of the bound ({ratio['min']:.0%}-{ratio['max']:.0%}) (target >= 90%); "
        f"{figures['failures']} failed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per latency/throughput run")
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternating runs of the best unbatched and batched servers"
    )
    parser.add_argument(
        "--load-duration", type=float, default=20.0, help="seconds per model in the load test"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--against",
        choices=["kserve", "ray"],
        help="measure against KServe's ModelServer, or Ray Serve, instead",
    )
    arguments = parser.parse_args()

    if arguments.against == "ray":
        with tempfile.TemporaryDirectory(prefix="bench_serve.") as directory:
            models.build_cnn(Path(directory) / "cnn.onnx")
            figures = against_ray(Path(directory), arguments.duration, arguments.repeats)
        print_against_ray(figures, arguments.repeats)
        if arguments.json:
            arguments.json.write_text(json.dumps(figures, indent=2) + "\n")
        return

    if arguments.against == "kserve":
        with tempfile.TemporaryDirectory(prefix="bench_serve.") as directory:
            model_dir = Path(directory)
            models.build_cnn(model_dir / "cnn.onnx")
            models.build_resnet(model_dir / "resnet.onnx")
            figures = against_kserve(model_dir, arguments.duration, arguments.repeats)
        print_against_kserve(figures, arguments.repeats)
        if arguments.json:
            arguments.json.write_text(json.dumps(figures, indent=2) + "\n")
        return

    with tempfile.TemporaryDirectory(prefix="bench_serve.") as directory:
        model_dir = Path(directory)
        builders = (models.build_cnn, models.build_transformer, models.build_resnet, models.build_resnet18)
        for builder in builders:
            builder(model_dir / f"{builder.__name__.removeprefix('build_')}.onnx")
        figures = {
            "protocol_cost": protocol_cost(model_dir, arguments.duration),
            "dynamic_batching": {
                name: batching_gain(
                    str(model_dir / f"{name}.onnx"), name, arguments.duration, arguments.repeats
                )
                for name in ("resnet", "resnet18")
            },
            "load_test": load_test(model_dir, arguments.load_duration),
        }

    cost = figures["protocol_cost"]
    print(
        f"CNN batch 1: in-process p50 {cost['in_process_p50_ms']:.3f} ms, served p50 {cost['served_binary_p50_ms']:.3f} ms "
        f"(binary), {cost['served_json_p50_ms']:.3f} ms (JSON)"
    )
    print(
        f"  served minus in-process p50: {cost['served_minus_in_process_p50_ms']:.3f} ms (target <= 2 ms, binary)"
    )
    titles = {"resnet": "ResNet-8 3x32x32", "resnet18": "ResNet-18 3x64x64"}
    for name, batching in figures["dynamic_batching"].items():
        images = batching["in_process_per_image_ms"]
        unbatched, batched = batching["unbatched_requests_per_s"], batching["batched_requests_per_s"]
        ratio = batching["throughput_ratio"]
        print(
            f"{titles[name]}, in-process onnxruntime per image: batch 1 {images['batch1_threads1']:.3f} ms "
            f"(1 thread) / {images['batch1_threads2']:.3f} ms (2), batch 8 {images['batch8_threads1']:.3f} ms "
            f"/ {images['batch8_threads2']:.3f} ms; batching can give at most {batching['compute_bound_ratio']:.2f}x "
            "(1-thread CPU cost, batch 1 over batch 8), "
            f"{batching['bound_ratio_with_overhead']:.2f}x with the {batching['overhead_cpu_ms_per_request']:.2f} "
            "CPU-ms of HTTP per request"
        )
        print(
            f"  {batching['clients']} clients, median of {arguments.repeats} (min-max): "
            f"unbatched {unbatched['median']:.0f} req/s ({unbatched['min']:.0f}-{unbatched['max']:.0f}, "
            f"{batching['best_settings']['unbatched']}), batched {batched['median']:.0f} req/s "
            f"({batched['min']:.0f}-{batched['max']:.0f}, {batching['best_settings']['batched']}); "
            f"ratio {ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f}) (target >= 2x), "
            f"{batching['failures']} failed"
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

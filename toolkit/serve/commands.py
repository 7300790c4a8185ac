"""`toolkit serve` and `toolkit bench`: parse, call serve/, print. The toolkit CLI group registers both."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click

from toolkit.errors import InputError, UsageError
from toolkit.options import parse_batch_sizes

PROVIDERS = click.Choice(["auto", "cpu", "cuda", "tensorrt"])


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; loopback unless you mean to expose it.",
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--provider", type=PROVIDERS, default="auto", show_default=True, help="onnxruntime execution provider."
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Server processes, each holding every model.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="onnxruntime intra-op threads per model [default: cores / workers].",
)
@click.option(
    "--run-slots",
    type=click.IntRange(min=1),
    help="onnxruntime runs in flight per worker [default: cores, at least 2].",
)
@click.option(
    "--max-batch-size",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Dynamic batching: most rows per run (0: off).",
)
@click.option(
    "--batch-timeout-ms",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Dynamic batching: longest wait for company, spent only while another run is in flight.",
)
@click.option(
    "--max-request-mb",
    default=64.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Largest request body accepted (HTTP 413 above).",
)
@click.option(
    "--large-request-slots",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Requests over 1 MiB read, decoded and run at once (others wait); bounds peak memory.",
)
@click.option(
    "--request-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a client may take to send one whole request before its connection is closed.",
)
@click.option(
    "--engine",
    type=click.Choice(["uvicorn", "ray"]),
    default="uvicorn",
    show_default=True,
    help="uvicorn: this machine's processes; ray: a Ray Serve deployment of the same app.",
)
@click.option(
    "--replicas", type=click.IntRange(min=1), default=1, show_default=True, help="Ray Serve replicas."
)
@click.option("--autoscale", metavar="MIN:MAX", help="Ray Serve: autoscale between MIN and MAX replicas.")
@click.option(
    "--address", help="Ray: an existing cluster (ray://host:10001 or auto) [default: start one here]."
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
def serve_command(
    models,
    host,
    port,
    provider,
    workers,
    threads,
    run_slots,
    max_batch_size,
    batch_timeout_ms,
    max_request_mb,
    large_request_slots,
    request_timeout,
    engine,
    replicas,
    autoscale,
    address,
    log_level,
    access_log,
):
    """Serve ONNX MODELS over the KServe v2 / Open Inference Protocol REST API (model name = file stem)."""
    from toolkit.runtime import resolve_providers
    from toolkit.serve.app import ServeSettings, configure_logging
    from toolkit.serve.repository import machine_cores

    configure_logging(log_level)
    resolve_providers(provider)  # a provider asked for and absent fails here, before any model loads
    _check_model_files(models)
    settings = ServeSettings(
        model_paths=tuple(str(Path(path).resolve()) for path in models),
        provider=provider,
        threads=threads or max(1, machine_cores() // workers),
        run_slots=run_slots,
        max_batch_size=max_batch_size,
        batch_timeout_ms=batch_timeout_ms,
        max_request_bytes=int(max_request_mb * 1024 * 1024),
        large_request_slots=large_request_slots,
        request_timeout_s=request_timeout,
    )
    if engine == "ray":
        _serve_on_ray(settings, host, port, workers, threads, replicas, autoscale, address)
        return
    if replicas != 1 or autoscale or address:
        raise UsageError("--replicas, --autoscale and --address need --engine ray")
    _serve_on_uvicorn(settings, workers, host, port, log_level, access_log)


def _check_model_files(models) -> None:
    """Every model is a file, and no two share a stem (the stem is the model's name in the URL)."""
    stems = {}
    for path in map(Path, models):
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if path.stem in stems:
            raise UsageError(
                f"{path}: model name {path.stem!r} (the file stem) is already taken by {stems[path.stem]}"
            )
        stems[path.stem] = path


def _serve_on_uvicorn(settings, workers, host, port, log_level, access_log) -> None:
    import uvicorn

    from toolkit.serve.app import HTTP_PROTOCOL, SETTINGS_ENVIRONMENT, create_app

    options = dict(
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=30,
        http=HTTP_PROTOCOL,
    )
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
    else:
        # Worker processes import the app by name; the settings travel in their environment.
        os.environ[SETTINGS_ENVIRONMENT] = settings.to_json()
        uvicorn.run("toolkit.serve.app:app_from_environment", factory=True, workers=workers, **options)


def _serve_on_ray(settings, host, port, workers, threads, replicas, autoscale, address) -> None:
    from toolkit.serve.ray_engine import parse_autoscale, serve_on_ray
    from toolkit.serve.repository import machine_cores

    if workers != 1:
        raise UsageError("--workers is for --engine uvicorn; with Ray use --replicas or --autoscale")
    bounds = parse_autoscale(autoscale)
    if bounds and replicas != 1:
        raise UsageError("give --replicas or --autoscale, not both")
    most = bounds[1] if bounds else replicas
    settings = dataclasses.replace(settings, threads=threads or max(1, machine_cores() // most))
    serve_on_ray(settings, host, port, replicas, bounds, address)


@click.command()
@click.argument("model")
@click.option(
    "--provider", type=PROVIDERS, default="auto", show_default=True, help="In-process onnxruntime provider."
)
@click.option("--batch-sizes", default="1,8,32", show_default=True, help="Comma-separated batch sizes.")
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Clients sending back to back.",
)
@click.option(
    "--duration",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds per batch size.",
)
@click.option(
    "--url", help="A running v2 server (http://127.0.0.1:8000); MODEL is then its name or .onnx file."
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Also write the results as JSON here."
)
@click.option(
    "--threads", type=click.IntRange(min=1), help="In-process onnxruntime intra-op threads [default: cores]."
)
@click.option(
    "--dynamic-size",
    default=16,
    show_default=True,
    type=click.IntRange(min=1),
    help="Size of variable axes other than the batch.",
)
@click.option(
    "--json-data", is_flag=True, help="Send JSON tensors to the server instead of binary tensor data."
)
def bench_command(
    model, provider, batch_sizes, concurrency, duration, url, json_path, threads, dynamic_size, json_data
):
    """Latency percentiles (p50/p90/p99) and throughput of MODEL: in-process, and through a server with --url.

    With --url and an existing .onnx file, both are measured, so the protocol's cost shows side by side.
    """
    from rich.console import Console

    from toolkit.serve.bench import bench_in_process, bench_server, results_table, write_json

    sizes = parse_batch_sizes(batch_sizes)
    local = Path(model).is_file()
    if not url and not local:
        raise InputError(f"{model}: no such file (pass an .onnx file, or a model name with --url)")
    results = []
    if local:
        results += bench_in_process(model, provider, sizes, concurrency, duration, threads, dynamic_size)
    if url:
        name = Path(model).stem if model.endswith(".onnx") else model
        results += bench_server(url, name, sizes, concurrency, duration, not json_data, dynamic_size)
    console = Console()
    console.width = max(console.width, 120)  # eleven numeric columns: no truncation in narrow terminals
    console.print(results_table(results))
    if json_path:
        write_json(results, json_path)
    failed = sum(result.failures for result in results)
    if failed:
        errors = {result.first_error for result in results if result.first_error}
        raise InputError(f"{failed} request(s) failed; first error: {'; '.join(sorted(errors))}")

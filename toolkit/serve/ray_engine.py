"""`toolkit serve --engine ray`: the same KServe v2 app, as a Ray Serve deployment.

Each replica builds the project's FastAPI app itself (`serve.ingress` with a builder, so the
onnxruntime sessions are made in the replica, never pickled) and runs its lifespan, so dynamic
batching works there as it does under uvicorn. Ray Serve's proxy spreads requests over the
replicas and its controller replaces one that dies.

With no --address a one-node Ray cluster is started for this machine: as many CPUs as cores,
a small object store (requests travel over HTTP, not through it), no dashboard; replicas ask for
a fraction of a CPU so several fit on a small machine. With --address the same deployment goes
onto an existing cluster, with toolkit shipped to it as a runtime_env py_module.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

from toolkit.errors import UsageError
from toolkit.serve.app import ServeSettings
from toolkit.serve.repository import machine_cores

log = logging.getLogger("toolkit.serve")

DEPLOYMENT = "toolkit"
# Each response names the replica's process: how a client (and the tests) see traffic spread.
REPLICA_HEADER = "X-Toolkit-Replica"
OBJECT_STORE_BYTES = 128 * 1024 * 1024


def parse_autoscale(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    low, _, high = text.partition(":")
    try:
        bounds = int(low), int(high)
    except ValueError:
        raise UsageError(f"--autoscale {text!r}: expected MIN:MAX replicas, such as 1:4") from None
    if not 0 <= bounds[0] <= bounds[1] or bounds[1] < 1:
        raise UsageError(f"--autoscale {text!r}: need 0 <= MIN <= MAX and MAX >= 1")
    return bounds


def build_replica_app(settings: ServeSettings):
    """Run inside each replica: the project's app, plus the header naming this replica."""
    from toolkit.serve.app import create_app

    app = create_app(settings)
    pid = str(os.getpid())

    @app.middleware("http")
    async def name_the_replica(request, call_next):
        response = await call_next(request)
        response.headers[REPLICA_HEADER] = pid
        return response

    return app


def deployment(settings: ServeSettings, replicas: int, autoscale: tuple[int, int] | None):
    from ray import serve

    most = autoscale[1] if autoscale else replicas
    options: dict = {
        # A fraction of a CPU each, so `most` replicas fit beside Ray's own processes.
        "ray_actor_options": {"num_cpus": min(1.0, machine_cores() / (most + 1))},
        "max_ongoing_requests": 64,
    }
    if autoscale:
        options["autoscaling_config"] = {
            "min_replicas": autoscale[0],
            "max_replicas": autoscale[1],
            "target_ongoing_requests": 4,
        }
    else:
        options["num_replicas"] = replicas

    @serve.deployment(name=DEPLOYMENT, **options)
    @serve.ingress(lambda: build_replica_app(settings))
    class ToolkitReplica:
        """The v2 routes of toolkit's FastAPI app; all of it lives in the ingress app."""

    return ToolkitReplica.bind()


def start_ray(address: str | None) -> None:
    import ray

    import toolkit

    if address:
        ray.init(address=address, runtime_env={"py_modules": [str(Path(toolkit.__file__).parent)]})
    else:
        ray.init(
            num_cpus=machine_cores(),
            object_store_memory=OBJECT_STORE_BYTES,
            include_dashboard=False,
            configure_logging=False,
        )


def serve_on_ray(
    settings: ServeSettings,
    host: str,
    port: int,
    replicas: int = 1,
    autoscale: tuple[int, int] | None = None,
    address: str | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Deploy and block until SIGINT/SIGTERM (or `stop`), then take the deployment down."""
    import ray
    from ray import serve

    start_ray(address)
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(deployment(settings, replicas, autoscale), name=DEPLOYMENT, route_prefix="/")
        log.info(
            "Ray Serve: %s on http://%s:%d (%s)",
            ", ".join(Path(path).stem for path in settings.model_paths),
            host,
            port,
            f"autoscaling {autoscale[0]}..{autoscale[1]} replicas" if autoscale else f"{replicas} replica(s)",
        )
        # A flag, not Event.set: a signal handler setting an Event the main thread waits on deadlocks
        # on the Event's own lock.
        signalled: list[int] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda signum, _frame: signalled.append(signum))
        while not signalled and not (stop and stop.is_set()):
            time.sleep(0.2)
        log.info("Ray Serve: shutting down")
    finally:
        try:
            if address:
                serve.delete(DEPLOYMENT)
            else:
                serve.shutdown()
        finally:
            ray.shutdown()

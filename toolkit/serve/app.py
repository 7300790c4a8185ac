"""The Open Inference Protocol (KServe v2) REST routes over a repository of onnxruntime models.

Every failure a client can cause is a 4xx whose body is `{"error": "..."}`, as the protocol says;
the server keeps serving after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import json
import logging
import os
import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import h11
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.h11_impl import H11Protocol

from toolkit.errors import InputError, ToolkitError
from toolkit.serve import codec, memory
from toolkit.serve.batching import DirectRunner, DynamicBatcher
from toolkit.serve.repository import ServedModel, load_models, machine_cores

log = logging.getLogger("toolkit.serve")

SERVER_NAME = "toolkit"
EXTENSIONS = ["binary_tensor_data"]
# The environment variable through which `serve --workers N` hands its settings to each worker process.
SETTINGS_ENVIRONMENT = "TOOLKIT_SERVE_SETTINGS"
# A body past this size counts as large: such requests are read, decoded and run a few at a time.
LARGE_REQUEST_BYTES = 1024 * 1024
# The lifespan state key through which the app hands its request timeout to uvicorn's connections.
REQUEST_TIMEOUT_STATE = "toolkit_request_timeout_s"


@dataclass(frozen=True)
class ServeSettings:
    """Everything a worker process needs to build the same app: picklable, JSON-able."""

    model_paths: tuple[str, ...]
    provider: str = "auto"
    threads: int | None = None  # onnxruntime intra-op threads per session; None: the cores available
    run_slots: int | None = None  # onnxruntime runs in flight per process; None: the cores, at least 2
    max_batch_size: int = 0  # 0: no dynamic batching
    batch_timeout_ms: float = 2.0
    max_request_bytes: int = 64 * 1024 * 1024
    large_request_slots: int = 2  # large requests (over LARGE_REQUEST_BYTES) in flight at once
    request_timeout_s: float = 30.0  # longest a client may take to send one whole request

    def to_json(self) -> str:
        return json.dumps({**self.__dict__, "model_paths": list(self.model_paths)})

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        values = json.loads(text)
        return cls(**{**values, "model_paths": tuple(values["model_paths"])})


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY on every connection and a deadline for receiving a request.

    asyncio sets TCP_NODELAY only when the socket's proto is IPPROTO_TCP; a listener made by plain
    socket.socket() has proto 0 (uvicorn's own for `--workers N`, or one passed to Server.run), so its
    connections keep Nagle on. A response goes out as two writes (headers, body), and the second waits
    for the client's delayed ACK: about 40 ms per request.

    uvicorn times out only idle keep-alive connections; one that opens and never finishes its headers
    or body is held for as long as the client likes. Here each request must arrive whole within
    the app's `request_timeout_s`, except while the server itself holds reading back (a large body waiting for
    its slot), or the connection is closed.
    """

    _request_deadline: asyncio.TimerHandle | None = None

    @property
    def request_timeout_s(self) -> float:
        # The app's lifespan state carries its settings' timeout to the connections of its server.
        return self.app_state.get(REQUEST_TIMEOUT_STATE, ServeSettings.request_timeout_s)

    def connection_made(self, transport: asyncio.Transport) -> None:
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self._arm_request_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            if self._request_deadline is None:
                self._arm_request_deadline()
        else:
            self._cancel_request_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_request_deadline()
        super().connection_lost(exc)

    def _arm_request_deadline(self) -> None:
        if self.request_timeout_s:
            self._request_deadline = self.loop.call_later(self.request_timeout_s, self._request_timed_out)

    def _cancel_request_deadline(self) -> None:
        if self._request_deadline is not None:
            self._request_deadline.cancel()
            self._request_deadline = None

    def _request_timed_out(self) -> None:
        self._request_deadline = None
        if self.transport.is_closing() or self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            return
        if self.flow.read_paused:  # the server holds reading back: not the client's delay
            self._arm_request_deadline()
            return
        if self.conn.their_state is h11.IDLE and self.cycle is not None and self.cycle.response_complete:
            return  # between keep-alive requests: uvicorn's keep-alive timeout governs
        log.info(
            "closing connection from %s: no whole request within %.0f s", self.client, self.request_timeout_s
        )
        self.transport.close()


# What `toolkit serve` (and the tests' in-thread server) hands uvicorn as its `http` setting.
HTTP_PROTOCOL = f"{__name__}:{NoDelayH11Protocol.__name__}"


def configure_logging(level: str = "info") -> None:
    """Send toolkit.serve's lines (the provider chosen, batching) to stderr beside uvicorn's."""
    log.setLevel(level.upper())
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(settings: ServeSettings, models: Mapping[str, ServedModel] | None = None) -> FastAPI:
    """Build the app; models are loaded now (so a bad file fails before the port opens) unless given."""
    models = (
        dict(models)
        if models is not None
        else load_models(settings.model_paths, settings.provider, settings.threads)
    )
    runners: dict[str, DirectRunner | DynamicBatcher] = {}
    memory.keep_large_buffers_mapped()
    app = FastAPI(
        title="toolkit inference server (KServe v2)",
        lifespan=_lifespan(settings, models, runners),
        docs_url=None,
        redoc_url=None,
    )
    app.state.models = models
    _add_error_handlers(app)
    _add_health_and_metadata_routes(app, models, runners)
    _add_infer_route(app, settings, models, runners)
    return app


def _lifespan(settings: ServeSettings, models: Mapping[str, ServedModel], runners: dict):
    """Start a runner per model (batching where every input and output has a dynamic first axis)
    on one thread pool of onnxruntime run slots; close them on shutdown."""
    slots = settings.run_slots or max(2, machine_cores())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="onnxruntime-run")
        for name, model in models.items():
            if settings.max_batch_size > 1 and model.batchable:
                runners[name] = DynamicBatcher(
                    model, executor, slots, settings.max_batch_size, settings.batch_timeout_ms / 1000
                )
                log.info(
                    "model %s: continuous batching up to %d rows, %d run slots, "
                    "waits up to %.1f ms for company while busy",
                    name,
                    settings.max_batch_size,
                    slots,
                    settings.batch_timeout_ms,
                )
            else:
                if settings.max_batch_size > 1:
                    log.warning(
                        "model %s: no dynamic first axis on every input and output; batching off", name
                    )
                runners[name] = DirectRunner(model, executor)
        try:
            yield {REQUEST_TIMEOUT_STATE: settings.request_timeout_s}
        finally:
            for runner in runners.values():
                await runner.close()
            executor.shutdown(wait=True)

    return lifespan


def _find(models: Mapping[str, ServedModel], name: str, version: str | None) -> ServedModel | JSONResponse:
    """The model a route names, or the protocol's 404."""
    model = models.get(name)
    if model is None:
        return error_response(
            404, f"unknown model {name!r}; this server has {', '.join(sorted(models)) or 'none'}"
        )
    if version not in (None, "", model.version):
        return error_response(
            404, f"model {name!r} has no version {version!r}; it has version {model.version}"
        )
    return model


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ToolkitError)
    async def toolkit_error(request: Request, error: ToolkitError):
        return error_response(400, str(error))

    # Routing's own 404/405 (and FastAPI's validation errors) in the protocol's {"error": ...} shape.
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        response = error_response(error.status_code, f"{request.method} {request.url.path}: {error.detail}")
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError):
        return error_response(400, f"{request.method} {request.url.path}: {error.errors()}")

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return error_response(500, f"internal error: {type(error).__name__}: {error}")


def _add_health_and_metadata_routes(app: FastAPI, models: Mapping[str, ServedModel], runners: dict) -> None:
    @app.get("/v2/health/live")
    async def live():
        return Response(status_code=200)

    @app.get("/v2/health/ready")
    async def ready():
        return Response(status_code=200 if len(runners) == len(models) else 503)

    @app.get("/v2")
    async def server_metadata():
        return {"name": SERVER_NAME, "version": _toolkit_version(), "extensions": EXTENSIONS}

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def model_metadata(name: str, version: str | None = None):
        model = _find(models, name, version)
        return model if isinstance(model, JSONResponse) else model.metadata()

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(name: str, version: str | None = None):
        model = _find(models, name, version)
        if isinstance(model, JSONResponse):
            return model
        return (
            Response(status_code=200)
            if name in runners
            else error_response(503, f"model {name!r} is not ready")
        )


def _add_infer_route(
    app: FastAPI, settings: ServeSettings, models: Mapping[str, ServedModel], runners: dict
) -> None:
    large_requests = LargeRequestSlots(settings.large_request_slots)

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer(name: str, request: Request, version: str | None = None):
        model = _find(models, name, version)
        if isinstance(model, JSONResponse):
            return model
        async with contextlib.AsyncExitStack() as stack:
            admitted = False

            async def admit_large() -> None:
                nonlocal admitted
                await stack.enter_async_context(large_requests.semaphore)
                admitted = True

            try:
                body = await read_body(request, settings.max_request_bytes, admit_large)
            except codec.BodyTooLargeError as error:
                return error_response(413, str(error))
            except ClientDisconnect:
                return error_response(400, "the client went away before its request body arrived")
            response = await _answer(
                model, runners[model.name], body, request.headers.get(codec.HEADER_LENGTH)
            )
            if admitted:  # after it is sent, hand the pages its arrays held back to the OS
                response.background = BackgroundTask(memory.return_freed_memory)
            return response


async def _answer(model: ServedModel, runner, body, header_length: str | None) -> Response:
    """Decode a v2 request, run it, and encode the response (JSON, or binary tensors after a JSON header)."""
    decoded = codec.decode_request(body, header_length)
    del body  # the decoded arrays keep what they view of it
    model.check_datatypes(decoded.datatypes)
    feeds = model.validate(decoded.inputs)
    requested = decoded.outputs
    output_names = (
        [output.name for output in requested] if requested is not None else model.session.output_names
    )
    model.check_output_names(output_names)
    binary = (
        {output.name: output.binary or decoded.binary_output_default for output in requested}
        if requested is not None
        else dict.fromkeys(output_names, decoded.binary_output_default)
    )
    request_id = decoded.id
    outputs = await runner.infer(feeds, output_names)
    del feeds, decoded
    content, header_length = codec.encode_response(model.name, model.version, outputs, binary, request_id)
    if header_length is None:
        return Response(content, media_type=codec.JSON_CONTENT_TYPE)
    return Response(
        content,
        media_type=codec.BINARY_CONTENT_TYPE,
        headers={codec.HEADER_LENGTH: str(header_length)},
    )


@functools.cache
def _toolkit_version() -> str:
    """The installed distribution's version (pyproject.toml's), read without importing the package root."""
    try:
        return importlib.metadata.version("toolkit")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class LargeRequestSlots:
    """At most `count` large requests are read, decoded and run at once; the others wait their turn.

    Their memory (body, tensors, outputs, response) is the server's peak: eight concurrent 60 MB
    requests would otherwise all be in memory together. While one waits, uvicorn stops reading its
    socket, so its body stays in the client's buffers.
    """

    def __init__(self, count: int):
        self.semaphore = asyncio.Semaphore(count)


async def read_body(request: Request, limit: int, admit_large) -> bytearray:
    """The request body in one buffer, refused as soon as it is known to exceed `limit` bytes.

    With a Content-Length the buffer is allocated once and filled in place (no list of chunks
    joined into a second copy); a large body first waits for `admit_large()`.
    """
    declared = request.headers.get("content-length")
    expected = int(declared) if declared is not None and declared.isdigit() else None
    if expected is not None and expected > limit:
        raise codec.BodyTooLargeError(f"request body of {declared} bytes is over the {limit}-byte limit")
    large = expected is not None and expected > LARGE_REQUEST_BYTES
    if large:
        await admit_large()
    body = bytearray(expected or 0)
    size = 0
    async for chunk in request.stream():
        if expected is not None and size + len(chunk) <= expected:
            body[size : size + len(chunk)] = chunk
        else:
            body += chunk
        size += len(chunk)
        if size > limit:
            raise codec.BodyTooLargeError(f"request body is over the {limit}-byte limit")
        if not large and size > LARGE_REQUEST_BYTES:
            large = True
            await admit_large()
    if expected is not None and size != expected:
        raise InputError(f"request body has {size} bytes but its Content-Length is {expected}")
    return codec.decompress(body, request.headers.get("content-encoding"), limit)


def app_from_environment() -> FastAPI:
    """The app factory each `--workers` process calls: settings come from the parent's environment."""
    text = os.environ.get(SETTINGS_ENVIRONMENT)
    if not text:
        raise InputError(f"{SETTINGS_ENVIRONMENT} is not set; start workers through `toolkit serve`")
    configure_logging()
    return create_app(ServeSettings.from_json(text))

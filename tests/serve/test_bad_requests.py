"""Every malformed request a probe of the server tried is a 4xx with {"error": ...}, never a 500.

The table below holds the probe's cases (issue 16, item 7) and their neighbours: bodies that are
not JSON or nest too deeply, shapes that overflow, datatypes and data that do not agree, binary
sections that lie about their size, routes and methods that do not exist. A seeded fuzzer then
mutates valid requests for a bounded time. After all of it the server still answers correctly.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import socket
import time

import httpx
import numpy as np
import pytest
import served_models as models
from conftest import serve_in_thread

from toolkit.serve.app import ServeSettings

CNN_DATA = [0.5] * 784
HEADER = "Inference-Header-Content-Length"


@pytest.fixture(scope="module")
def url(model_dir, tmp_path_factory):
    log_path = models.build_log(tmp_path_factory.mktemp("log_model") / "log.onnx")
    paths = tuple(str(model_dir / f"{name}.onnx") for name in ("cnn", "transformer", "mixed", "strings"))
    settings = ServeSettings((*paths, str(log_path)), provider="cpu", max_request_bytes=4 * 1024 * 1024)
    with serve_in_thread(settings) as base:
        yield base


def tensor(**fields):
    return {"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": CNN_DATA, **fields}


def body(*tensors, **extra) -> bytes:
    return json.dumps({"inputs": list(tensors), **extra}).encode()


def nested(depth: int, leaf="0") -> str:
    return "[" * depth + leaf + "]" * depth


# (case id, method, path, body bytes, extra headers)
CASES = [
    ("empty body", "POST", "/v2/models/cnn/infer", b"", {}),
    ("not json", "POST", "/v2/models/cnn/infer", b"{not json", {}),
    ("truncated json", "POST", "/v2/models/cnn/infer", b'{"inputs": [', {}),
    ("json null", "POST", "/v2/models/cnn/infer", b"null", {}),
    ("json list", "POST", "/v2/models/cnn/infer", b"[]", {}),
    ("json number", "POST", "/v2/models/cnn/infer", b"123", {}),
    ("invalid utf-8", "POST", "/v2/models/cnn/infer", b'{"inputs": "\xff\xfe"}', {}),
    (
        "deeply nested body",
        "POST",
        "/v2/models/cnn/infer",
        ('{"inputs": ' + nested(100_000) + "}").encode(),
        {},
    ),
    (
        "deeply nested data",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(data="@")).replace(b'"@"', nested(5000).encode()),
        {},
    ),
    (
        "deep parameters",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(), parameters="@").replace(b'"@"', ('{"a":' * 5000 + "1" + "}" * 5000).encode()),
        {},
    ),
    ("inputs missing", "POST", "/v2/models/cnn/infer", b"{}", {}),
    ("inputs empty", "POST", "/v2/models/cnn/infer", body(), {}),
    ("inputs object", "POST", "/v2/models/cnn/infer", b'{"inputs": {"name": "input"}}', {}),
    ("input not object", "POST", "/v2/models/cnn/infer", b'{"inputs": [1]}', {}),
    (
        "name missing",
        "POST",
        "/v2/models/cnn/infer",
        body({"shape": [1], "datatype": "FP32", "data": [1]}),
        {},
    ),
    ("name number", "POST", "/v2/models/cnn/infer", body(tensor(name=7)), {}),
    ("unknown input", "POST", "/v2/models/cnn/infer", body(tensor(name="image")), {}),
    ("duplicate input", "POST", "/v2/models/cnn/infer", body(tensor(), tensor()), {}),
    (
        "shape product overflows int64",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(shape=[2**32, 2**32, 4, 1])),
        {},
    ),
    ("shape entry 10^30", "POST", "/v2/models/cnn/infer", body(tensor(shape=[10**30, 1, 28, 28])), {}),
    ("shape entry 2^63", "POST", "/v2/models/cnn/infer", body(tensor(shape=[2**63, 1, 28, 28])), {}),
    ("rank 100", "POST", "/v2/models/cnn/infer", body(tensor(shape=[1] * 100)), {}),
    ("rank 65 zeros", "POST", "/v2/models/cnn/infer", body(tensor(shape=[0] * 65, data=[])), {}),
    (
        "shape zero and huge",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(shape=[0, 2**62, 2**62, 28], data=[])),
        {},
    ),
    ("shape negative", "POST", "/v2/models/cnn/infer", body(tensor(shape=[-1, 1, 28, 28])), {}),
    ("shape float", "POST", "/v2/models/cnn/infer", body(tensor(shape=[1.0, 1, 28, 28])), {}),
    ("shape bool", "POST", "/v2/models/cnn/infer", body(tensor(shape=[True, 1, 28, 28])), {}),
    ("shape string", "POST", "/v2/models/cnn/infer", body(tensor(shape="1x1x28x28")), {}),
    ("shape null", "POST", "/v2/models/cnn/infer", body(tensor(shape=None)), {}),
    ("wrong rank", "POST", "/v2/models/cnn/infer", body(tensor(shape=[1, 28, 28])), {}),
    ("datatype unknown", "POST", "/v2/models/cnn/infer", body(tensor(datatype="FLOAT32")), {}),
    ("datatype number", "POST", "/v2/models/cnn/infer", body(tensor(datatype=1)), {}),
    ("datatype wrong", "POST", "/v2/models/cnn/infer", body(tensor(datatype="INT64", data=[0] * 784)), {}),
    ("null in FP32", "POST", "/v2/models/cnn/infer", body(tensor(data=[None] * 784)), {}),
    ("true in FP32", "POST", "/v2/models/cnn/infer", body(tensor(data=[True] * 784)), {}),
    ("one true among floats", "POST", "/v2/models/cnn/infer", body(tensor(data=[0.5] * 783 + [True])), {}),
    (
        "bare NaN token",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(data=[0.5] * 783 + ["@"])).replace(b'"@"', b"NaN"),
        {},
    ),
    (
        "bare Infinity token",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(data=[0.5] * 783 + ["@"])).replace(b'"@"', b"Infinity"),
        {},
    ),
    ("FP32 overflow 1e39", "POST", "/v2/models/cnn/infer", body(tensor(data=[0.5] * 783 + [1e39])), {}),
    (
        "number 1e400",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(data=[0.5] * 783 + ["@"])).replace(b'"@"', b"1e400"),
        {},
    ),
    ("string in FP32", "POST", "/v2/models/cnn/infer", body(tensor(data=["a"] * 784)), {}),
    ("object in FP32", "POST", "/v2/models/cnn/infer", body(tensor(data=[{}] * 784)), {}),
    ("data scalar", "POST", "/v2/models/cnn/infer", body(tensor(data=0.5)), {}),
    ("data string", "POST", "/v2/models/cnn/infer", body(tensor(data="0.5")), {}),
    ("data too short", "POST", "/v2/models/cnn/infer", body(tensor(data=[0.5] * 10)), {}),
    (
        "data missing",
        "POST",
        "/v2/models/cnn/infer",
        body({"name": "input", "shape": [1], "datatype": "FP32"}),
        {},
    ),
    (
        "INT64 float",
        "POST",
        "/v2/models/transformer/infer",
        body({"name": "tokens", "shape": [1, 2], "datatype": "INT64", "data": [1.5, 2]}),
        {},
    ),
    (
        "INT64 2^70",
        "POST",
        "/v2/models/transformer/infer",
        body({"name": "tokens", "shape": [1, 2], "datatype": "INT64", "data": [2**70, 2]}),
        {},
    ),
    (
        "INT64 bool",
        "POST",
        "/v2/models/transformer/infer",
        body({"name": "tokens", "shape": [1, 2], "datatype": "INT64", "data": [True, 2]}),
        {},
    ),
    (
        "token out of vocabulary",
        "POST",
        "/v2/models/transformer/infer",
        body({"name": "tokens", "shape": [1, 2], "datatype": "INT64", "data": [10**9, 2]}),
        {},
    ),
    (
        "BOOL number",
        "POST",
        "/v2/models/mixed/infer",
        body(
            {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
            {"name": "flag", "shape": [1, 3], "datatype": "BOOL", "data": [1, 0, 1]},
        ),
        {},
    ),
    (
        "BOOL null",
        "POST",
        "/v2/models/mixed/infer",
        body(
            {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
            {"name": "flag", "shape": [1, 3], "datatype": "BOOL", "data": [None, True, False]},
        ),
        {},
    ),
    (
        "BYTES number",
        "POST",
        "/v2/models/strings/infer",
        body({"name": "text", "shape": [2], "datatype": "BYTES", "data": [1, 2]}),
        {},
    ),
    (
        "binary size negative",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(data=None, parameters={"binary_data_size": -4})),
        {},
    ),
    (
        "binary size bool",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(data=None, parameters={"binary_data_size": True})),
        {},
    ),
    (
        "binary size float",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(data=None, parameters={"binary_data_size": 3136.0})),
        {},
    ),
    (
        "binary size 10^30",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(data=None, parameters={"binary_data_size": 10**30})),
        {},
    ),
    (
        "binary size past body",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(data=None, parameters={"binary_data_size": 3136})),
        {HEADER: "0"},
    ),
    (
        "binary bytes left over",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor()) + b"\0" * 8,
        {HEADER: str(len(body(tensor())))},
    ),
    ("header length text", "POST", "/v2/models/cnn/infer", body(tensor()), {HEADER: "abc"}),
    ("header length negative", "POST", "/v2/models/cnn/infer", body(tensor()), {HEADER: "-1"}),
    ("header length huge", "POST", "/v2/models/cnn/infer", body(tensor()), {HEADER: str(10**30)}),
    ("header length inside json", "POST", "/v2/models/cnn/infer", body(tensor()), {HEADER: "7"}),
    ("encoding unknown", "POST", "/v2/models/cnn/infer", body(tensor()), {"Content-Encoding": "br"}),
    ("gzip not gzip", "POST", "/v2/models/cnn/infer", body(tensor()), {"Content-Encoding": "gzip"}),
    (
        "gzip bomb",
        "POST",
        "/v2/models/cnn/infer",
        gzip.compress(b"[" * (64 * 1024 * 1024)),
        {"Content-Encoding": "gzip"},
    ),
    ("body over limit", "POST", "/v2/models/cnn/infer", b" " * (5 * 1024 * 1024), {}),
    ("outputs not list", "POST", "/v2/models/cnn/infer", body(tensor(), outputs={"name": "logits"}), {}),
    ("output name number", "POST", "/v2/models/cnn/infer", body(tensor(), outputs=[{"name": 1}]), {}),
    (
        "output unknown",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(), outputs=[{"name": "probabilities"}]),
        {},
    ),
    (
        "output classification",
        "POST",
        "/v2/models/cnn/infer",
        body(tensor(), outputs=[{"name": "logits", "parameters": {"classification": 3}}]),
        {},
    ),
    ("parameters list", "POST", "/v2/models/cnn/infer", body(tensor(), parameters=[1]), {}),
    ("tensor parameters list", "POST", "/v2/models/cnn/infer", body(tensor(parameters=[1])), {}),
    ("id object", "POST", "/v2/models/cnn/infer", body(tensor(), id={"a": 1}), {}),
    ("unknown model", "POST", "/v2/models/nope/infer", body(tensor()), {}),
    ("unknown version", "POST", "/v2/models/cnn/versions/7/infer", body(tensor()), {}),
    ("unknown route", "GET", "/v3/nothing", b"", {}),
    ("unknown model route", "GET", "/v2/models/cnn/explain", b"", {}),
    ("GET on infer", "GET", "/v2/models/cnn/infer", b"", {}),
    ("POST on metadata", "POST", "/v2", b"{}", {}),
    ("DELETE on model", "DELETE", "/v2/models/cnn", b"", {}),
    ("unknown model metadata", "GET", "/v2/models/nope", b"", {}),
    ("unknown model ready", "GET", "/v2/models/nope/ready", b"", {}),
]


def strict_json(content: bytes):
    """JSON as RFC 8259 has it: a bare NaN or Infinity token is an error, not a float."""

    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return json.loads(content, parse_constant=refuse)


@pytest.mark.parametrize(
    ("method", "path", "content", "headers"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_malformed_request_gets_a_4xx_with_an_error(url, method, path, content, headers):
    response = httpx.request(method, url + path, content=content, headers=headers, timeout=60)
    assert 400 <= response.status_code < 500, response.text[:300]
    error = strict_json(response.content)["error"]
    assert isinstance(error, str) and error
    assert "internal error" not in error


def test_deep_but_legal_nesting_is_served(url):
    """Nested data is row-major data at any depth simdjson parses; flattening it needs no recursion."""
    content = body({"name": "text", "shape": [1], "datatype": "BYTES", "data": "@"})
    response = httpx.post(
        f"{url}/v2/models/strings/infer", content=content.replace(b'"@"', nested(900, '"a"').encode())
    )
    assert response.status_code == 200
    assert strict_json(response.content)["outputs"][0]["data"] == ["a"]
    # An empty batch is a batch: zero rows in, zero rows out.
    response = httpx.post(f"{url}/v2/models/cnn/infer", content=body(tensor(shape=[0, 1, 28, 28], data=[])))
    assert response.status_code == 200
    assert strict_json(response.content)["outputs"][0]["shape"] == [0, 10]


def test_routing_errors_speak_the_protocol(url):
    response = httpx.get(f"{url}/v3/nothing")
    assert response.status_code == 404
    assert response.json() == {"error": "GET /v3/nothing: Not Found"}
    response = httpx.get(f"{url}/v2/models/cnn/infer")
    assert response.status_code == 405
    assert response.json() == {"error": "GET /v2/models/cnn/infer: Method Not Allowed"}
    assert response.headers["allow"] == "POST"


def test_null_and_true_are_not_numbers(url):
    response = httpx.post(f"{url}/v2/models/cnn/infer", content=body(tensor(data=[None] * 784)))
    assert "input 'input': 'data' does not hold FP32 values: null is not a number" in response.json()["error"]
    response = httpx.post(f"{url}/v2/models/cnn/infer", content=body(tensor(data=[0.5] * 783 + [True])))
    assert "true is not a number" in response.json()["error"]


def test_non_finite_values_travel_as_proto3_json_strings(url):
    """NaN, Infinity and -Infinity are JSON strings both ways, as the proto3 JSON mapping writes them."""
    import tritonclient.http as triton

    values = ["NaN", "Infinity", -1.0, 0.0, 1.0]
    response = httpx.post(
        f"{url}/v2/models/log/infer",
        content=body({"name": "x", "shape": [5], "datatype": "FP32", "data": values}),
    )
    assert response.status_code == 200
    (output,) = strict_json(response.content)["outputs"]
    assert output["data"] == ["NaN", "Infinity", "NaN", "-Infinity", 0.0]
    # tritonclient's JSON reader turns the strings back into floats.
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    try:
        x = np.array([-1.0, 0.0, math.e], dtype=np.float32)
        request = triton.InferInput("x", [3], "FP32").set_data_from_numpy(x, binary_data=False)
        result = client.infer("log", [request], outputs=[triton.InferRequestedOutput("y", binary_data=False)])
        np.testing.assert_array_equal(result.as_numpy("y")[:2], [np.nan, -np.inf])
        np.testing.assert_allclose(result.as_numpy("y")[2], 1.0, rtol=1e-6)
    finally:
        client.close()


def test_half_sent_requests_are_closed_after_the_request_timeout(model_dir):
    settings = ServeSettings((str(model_dir / "cnn.onnx"),), provider="cpu", request_timeout_s=1.0)
    with serve_in_thread(settings) as base:
        port = int(base.rsplit(":", 1)[1])
        partial = [
            b"",  # connects and says nothing
            b"POST /v2/models/cnn/infer HTTP/1.1\r\nHost: x\r\n",  # headers never end
            b'POST /v2/models/cnn/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 3136\r\n\r\n{"inp',  # body never ends
        ]
        sockets = []
        for index in range(60):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(partial[index % len(partial)])
            sockets.append(connection)
        began = time.monotonic()
        try:
            for connection in sockets:
                connection.settimeout(max(0.1, 10 - (time.monotonic() - began)))
                # The server closes: recv sees the end of the stream (or a reset), not a timeout.
                try:
                    received = connection.recv(65536)
                except ConnectionResetError:
                    received = b""
                assert received == b""
            assert time.monotonic() - began < 10
            # A request sent promptly on a new connection is still answered.
            image = models.cnn_input(1)
            response = httpx.post(
                f"{base}/v2/models/cnn/infer", content=body(tensor(data=image.reshape(-1).tolist()))
            )
            assert response.status_code == 200
        finally:
            for connection in sockets:
                connection.close()


# --- the fuzzer ---------------------------------------------------------------------------------

FUZZ_SECONDS = float(os.environ.get("TOOLKIT_FUZZ_SECONDS", "20"))
FUZZ_REQUESTS = int(os.environ.get("TOOLKIT_FUZZ_REQUESTS", "2000"))
ODD_VALUES = [
    None,
    True,
    False,
    -1,
    0,
    2**31,
    2**63,
    10**30,
    -(10**30),
    1.5,
    1e308,
    "",
    "x",
    "NaN",
    [],
    {},
    [[]],
    [None],
    {"a": []},
]


def valid_requests():
    """(path, header dict, binary tail) for valid requests to every served model, JSON and binary."""
    image = models.cnn_input(1).reshape(-1)
    requests = [
        ("/v2/models/cnn/infer", {"inputs": [tensor(data=image.tolist())]}, b""),
        (
            "/v2/models/cnn/infer",
            {
                "inputs": [tensor(data=None, parameters={"binary_data_size": 3136})],
                "outputs": [{"name": "logits", "parameters": {"binary_data": True}}],
            },
            image.tobytes(),
        ),
        (
            "/v2/models/transformer/infer",
            {"inputs": [{"name": "tokens", "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 3, 4]}]},
            b"",
        ),
        (
            "/v2/models/mixed/infer",
            {
                "inputs": [
                    {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, -2, 3]},
                    {"name": "flag", "shape": [1, 3], "datatype": "BOOL", "data": [True, False, True]},
                ],
                "parameters": {"binary_data_output": False},
            },
            b"",
        ),
        (
            "/v2/models/strings/infer",
            {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}], "id": "q"},
            b"",
        ),
    ]
    for _path, header, _tail in requests:
        header.setdefault("inputs", [])
        for item in header["inputs"]:
            if item.get("data") is None:
                item.pop("data", None)
    return requests


def mutate(rng: random.Random, header: dict):
    """Replace, delete or add one field somewhere in the request's JSON tree."""
    header = json.loads(json.dumps(header))
    containers = []

    def walk(node):
        if isinstance(node, dict | list):
            containers.append(node)
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    walk(header)
    target = rng.choice(containers)
    if isinstance(target, dict):
        keys = list(target) or ["name"]
        key = rng.choice(keys + ["data", "shape", "datatype", "parameters", "binary_data_size", "outputs"])
        if rng.random() < 0.2 and key in target:
            del target[key]
        else:
            target[key] = rng.choice(ODD_VALUES)
    elif target:
        index = rng.randrange(len(target))
        if rng.random() < 0.2:
            del target[index]
        else:
            target[index] = rng.choice(ODD_VALUES)
    return header


def fuzzed_requests(seed: int):
    rng = random.Random(seed)
    bases = valid_requests()
    while True:
        path, header, tail = rng.choice(bases)
        choice = rng.random()
        headers = {}
        if choice < 0.6:
            encoded = json.dumps(mutate(rng, header)).encode()
        else:
            encoded = bytearray(json.dumps(header).encode())
            for _ in range(rng.randint(1, 8)):  # byte flips, insertions and truncations
                position = rng.randrange(len(encoded))
                operation = rng.random()
                if operation < 0.5:
                    encoded[position] = rng.randrange(256)
                elif operation < 0.8:
                    encoded[position:position] = rng.choice(
                        [b"[", b"]", b"{", b",", b'"', b"NaN", b"-", b"9" * 30]
                    )
                else:
                    del encoded[position:]
                    break
            encoded = bytes(encoded) or b"{"
        if tail:
            headers[HEADER] = str(len(encoded) + rng.choice([0, 0, 0, -1, 1, 7]))
        yield path, encoded + tail, headers


def test_fuzzed_requests_never_get_a_5xx(url):
    """Seeded and bounded (TOOLKIT_FUZZ_SECONDS, TOOLKIT_FUZZ_REQUESTS); `make fuzz` raises both."""
    outcomes: dict[int, int] = {}
    deadline = time.monotonic() + FUZZ_SECONDS
    with httpx.Client(base_url=url, timeout=30) as client:
        for count, (path, content, headers) in enumerate(fuzzed_requests(seed=16)):
            if count >= FUZZ_REQUESTS or time.monotonic() > deadline:
                break
            response = client.post(path, content=content, headers=headers)
            outcomes[response.status_code] = outcomes.get(response.status_code, 0) + 1
            assert response.status_code < 500, (content[:300], response.text[:300])
            if response.headers.get(HEADER) is None:
                reply = strict_json(response.content)
                assert ("error" in reply) == (response.status_code >= 400)
    print(f"fuzzed requests by status: {dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) >= 100
    assert outcomes.get(400, 0) > 0


def test_server_still_answers_correctly_after_all_of_it(url, model_dir):
    import onnxruntime

    image = models.cnn_input(2)
    response = httpx.post(
        f"{url}/v2/models/cnn/infer",
        content=body(tensor(shape=[2, 1, 28, 28], data=image.reshape(-1).tolist())),
    )
    assert response.status_code == 200
    logits = np.array(strict_json(response.content)["outputs"][0]["data"], dtype=np.float32).reshape(2, 10)
    session = onnxruntime.InferenceSession(str(model_dir / "cnn.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(logits, session.run(None, {"input": image})[0])

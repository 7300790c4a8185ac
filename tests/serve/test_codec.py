"""The wire format alone: JSON and binary tensors both ways, and the errors a malformed body gets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolkit.errors import InputError
from toolkit.serve import codec

TENSORS = {
    "x": np.arange(6, dtype=np.float32).reshape(2, 3),
    "ids": np.array([[1, -2]], dtype=np.int64),
    "flag": np.array([True, False, True]),
    "half": np.array([0.5, -1.25], dtype=np.float16),
    "text": np.array([b"hello", "w\u00f6rld".encode()], dtype=np.object_),
}


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_request_round_trip(binary):
    body, header_length = codec.encode_request(TENSORS, binary=binary)
    request = codec.decode_request(body, None if header_length is None else str(header_length))
    assert set(request.inputs) == set(TENSORS)
    for name, value in TENSORS.items():
        assert request.inputs[name].dtype == value.dtype
        np.testing.assert_array_equal(request.inputs[name], value)
    assert request.datatypes == {"x": "FP32", "ids": "INT64", "flag": "BOOL", "half": "FP16", "text": "BYTES"}


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_response_round_trip(binary):
    body, header_length = codec.encode_response(
        "m", "1", TENSORS, dict.fromkeys(TENSORS, binary), request_id="r1"
    )
    assert (header_length is not None) == binary
    outputs = codec.decode_response(body, None if header_length is None else str(header_length))
    for name, value in TENSORS.items():
        np.testing.assert_array_equal(outputs[name], value)
    assert json.loads(body[:header_length] if binary else body)["id"] == "r1"


def test_nested_json_data_is_accepted():
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT32", "data": [[1, 2], [3, 4]]}]}
    )
    request = codec.decode_request(body.encode())
    np.testing.assert_array_equal(request.inputs["x"], np.array([[1, 2], [3, 4]], dtype=np.int32))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"inputs": []}, "'inputs' must be a non-empty list"),
        (
            {"inputs": [{"name": "x", "shape": [2], "datatype": "FLOAT", "data": [1, 2]}]},
            "unknown datatype 'FLOAT'",
        ),
        (
            {"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}]},
            "has 2 elements but shape [3]",
        ),
        (
            {"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]},
            "non-negative integers",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ["a"]}]},
            "does not hold FP32 values",
        ),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}, "neither 'data' nor"),
        ({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}, "string 'name'"),
    ],
)
def test_malformed_requests_name_the_problem(header, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        codec.decode_request(json.dumps(header).encode())


def test_binary_size_must_match_the_shape():
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}
    )
    body = header.encode() + b"\0" * 4
    with pytest.raises(InputError, match="needs 8"):
        codec.decode_request(body, str(len(header)))


def test_binary_data_past_the_body_is_refused():
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}
    )
    with pytest.raises(InputError, match="runs past"):
        codec.decode_request(header.encode() + b"\0" * 4, str(len(header)))


def test_malformed_json_and_header_length():
    with pytest.raises(InputError, match="malformed JSON"):
        codec.decode_request(b"{not json")
    with pytest.raises(InputError, match="is 99 but the body has only"):
        codec.decode_request(b"{}", "99")


def test_compressed_bodies_inflate_within_the_limit():
    import gzip
    import zlib

    body, _ = codec.encode_request(TENSORS, binary=False)
    assert codec.decompress(gzip.compress(body), "gzip", 1 << 20) == body
    assert codec.decompress(zlib.compress(body), "deflate", 1 << 20) == body
    with pytest.raises(codec.BodyTooLargeError):
        codec.decompress(gzip.compress(b"\0" * 10_000), "gzip", 1000)

"""Tensors on the wire of the Open Inference Protocol (KServe v2): JSON data and the binary data extension.

Both directions live here, so the server and the bench client speak exactly the same dialect:
a request or response is a JSON header, optionally followed by raw tensor bytes whose JSON
length is announced in the `Inference-Header-Content-Length` HTTP header.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from toolkit.errors import InputError

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_CONTENT_TYPE = "application/octet-stream"
JSON_CONTENT_TYPE = "application/json"

# v2 protocol tensor datatypes (https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/).
DATATYPE_TO_NUMPY = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
NUMPY_TO_DATATYPE = {dtype: name for name, dtype in DATATYPE_TO_NUMPY.items()}


def datatype_of(dtype: np.dtype | None) -> str:
    """The v2 datatype string of a numpy dtype; unicode and bytes arrays travel as BYTES."""
    if dtype is None:
        return "BYTES"
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return "BYTES"
    try:
        return NUMPY_TO_DATATYPE[dtype]
    except KeyError:
        raise InputError(f"numpy dtype {dtype} has no v2 protocol datatype") from None


def numpy_dtype_of(datatype: str) -> np.dtype:
    try:
        return DATATYPE_TO_NUMPY[datatype]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown datatype {datatype!r}; the v2 protocol datatypes served here are "
            f"{', '.join(DATATYPE_TO_NUMPY)}"
        ) from None


@dataclass
class RequestedOutput:
    name: str
    binary: bool


@dataclass
class InferenceRequest:
    """A decoded infer request: inputs as numpy arrays plus what the client wants back."""

    inputs: dict[str, np.ndarray]
    datatypes: dict[str, str]
    outputs: list[RequestedOutput] | None  # None: every model output
    binary_output_default: bool = False
    id: str | None = None
    parameters: dict = field(default_factory=dict)


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo the gzip/deflate `Content-Encoding` tritonclient can apply, refusing to inflate past `limit`."""
    if not content_encoding or content_encoding == "identity":
        return body
    if content_encoding not in ("gzip", "deflate"):
        raise InputError(f"unsupported Content-Encoding {content_encoding!r}; use gzip, deflate or none")
    # wbits: 16+ accepts a gzip wrapper, a plain value a zlib one ("deflate" in HTTP means zlib).
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if content_encoding == "gzip" else zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise InputError(f"request body is not valid {content_encoding} data: {error}") from None
    if len(data) > limit:
        raise BodyTooLargeError(f"request body inflates past the {limit}-byte limit")
    return data


class BodyTooLargeError(InputError):
    """A request body over the server's size limit (HTTP 413)."""


def split_body(body: bytes, header_length: str | None) -> tuple[dict, memoryview]:
    """Separate the JSON header from the binary section announced by `Inference-Header-Content-Length`."""
    if header_length is None:
        json_part, binary = body, memoryview(b"")
    else:
        try:
            length = int(header_length)
        except ValueError:
            raise InputError(f"{HEADER_LENGTH} header {header_length!r} is not an integer") from None
        if not 0 <= length <= len(body):
            raise InputError(f"{HEADER_LENGTH} is {length} but the body has only {len(body)} bytes")
        view = memoryview(body)
        json_part, binary = view[:length], view[length:]
    try:
        header = json.loads(bytes(json_part))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"malformed JSON in request body: {error}") from None
    if not isinstance(header, dict):
        raise InputError("malformed request: the JSON body must be an object with an 'inputs' list")
    return header, binary


def decode_request(body: bytes, header_length: str | None = None) -> InferenceRequest:
    """Parse an infer request body (JSON, or JSON plus binary tensor data) into numpy inputs."""
    header, binary = split_body(body, header_length)
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InputError("malformed request: 'inputs' must be a non-empty list of tensors")
    inputs: dict[str, np.ndarray] = {}
    datatypes: dict[str, str] = {}
    offset = 0
    for raw in raw_inputs:
        name, shape, datatype, parameters = _tensor_header(raw, "input")
        if name in inputs:
            raise InputError(f"input {name!r} appears twice in the request")
        dtype = numpy_dtype_of(datatype)
        size = parameters.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise InputError(
                    f"input {name!r}: binary_data_size {size!r} runs past the {len(binary)} bytes "
                    "of binary data after the JSON header"
                )
            inputs[name] = _from_bytes(name, binary[offset : offset + size], dtype, shape)
            offset += size
        elif "data" in raw:
            inputs[name] = _from_json(name, raw["data"], dtype, shape)
        else:
            raise InputError(f"input {name!r} has neither 'data' nor parameters.binary_data_size")
        datatypes[name] = datatype
    if offset != len(binary):
        raise InputError(
            f"{len(binary) - offset} bytes of binary data after the JSON header belong to no input"
        )
    request_parameters = header.get("parameters") or {}
    if not isinstance(request_parameters, dict):
        raise InputError("malformed request: 'parameters' must be an object")
    return InferenceRequest(
        inputs=inputs,
        datatypes=datatypes,
        outputs=_requested_outputs(header.get("outputs")),
        binary_output_default=bool(request_parameters.get("binary_data_output", False)),
        id=header.get("id"),
        parameters=request_parameters,
    )


def _tensor_header(raw, role: str) -> tuple[str, list[int], str, dict]:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise InputError(f"malformed request: every {role} needs a string 'name'")
    name = raw["name"]
    shape = raw.get("shape")
    if not isinstance(shape, list) or not all(isinstance(size, int) and size >= 0 for size in shape):
        raise InputError(f"{role} {name!r}: 'shape' must be a list of non-negative integers, got {shape!r}")
    datatype = raw.get("datatype")
    if not isinstance(datatype, str):
        raise InputError(f"{role} {name!r}: 'datatype' must be a string such as FP32")
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InputError(f"{role} {name!r}: 'parameters' must be an object")
    return name, shape, datatype, parameters


def _element_count(shape: Sequence[int]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def _from_json(name: str, data, dtype: np.dtype, shape: list[int]) -> np.ndarray:
    # The v2 protocol allows the data flattened or nested in row-major order.
    try:
        if dtype == np.object_:
            flat = np.array([_to_bytes(item) for item in _flatten(data)], dtype=np.object_)
        else:
            flat = np.asarray(data, dtype=dtype).reshape(-1)
    except (TypeError, ValueError, OverflowError) as error:
        raise InputError(
            f"input {name!r}: 'data' does not hold {NUMPY_TO_DATATYPE[dtype]} values: {error}"
        ) from None
    if flat.size != _element_count(shape):
        raise InputError(
            f"input {name!r}: 'data' has {flat.size} elements but shape {shape} needs {_element_count(shape)}"
        )
    return flat.reshape(shape)


def _flatten(data):
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    else:
        yield data


def _to_bytes(item) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8")
    raise TypeError(f"BYTES elements in JSON must be strings, got {type(item).__name__}")


def _from_bytes(name: str, raw: memoryview, dtype: np.dtype, shape: list[int]) -> np.ndarray:
    count = _element_count(shape)
    if dtype == np.object_:
        return deserialize_bytes(name, raw, count).reshape(shape)
    if len(raw) != count * dtype.itemsize:
        raise InputError(
            f"input {name!r}: binary_data_size is {len(raw)} bytes but shape {shape} of "
            f"{NUMPY_TO_DATATYPE[dtype]} needs {count * dtype.itemsize}"
        )
    # A copy: the body buffer is released after the request, the array may outlive it in a batch.
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def serialize_bytes(array: np.ndarray) -> bytes:
    """BYTES elements in binary form: each one a 4-byte little-endian length, then its bytes."""
    parts = []
    for item in array.reshape(-1):
        value = item.encode("utf-8") if isinstance(item, str) else bytes(item)
        parts.append(struct.pack("<I", len(value)))
        parts.append(value)
    return b"".join(parts)


def deserialize_bytes(name: str, raw: memoryview, count: int) -> np.ndarray:
    items, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InputError(f"tensor {name!r}: BYTES data ends inside a 4-byte length prefix")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise InputError(f"tensor {name!r}: BYTES element of {length} bytes runs past the data")
        items.append(bytes(raw[offset : offset + length]))
        offset += length
    if len(items) != count:
        raise InputError(f"tensor {name!r}: BYTES data holds {len(items)} elements, the shape needs {count}")
    return np.array(items, dtype=np.object_)


def _requested_outputs(raw_outputs) -> list[RequestedOutput] | None:
    if raw_outputs is None:
        return None
    if not isinstance(raw_outputs, list):
        raise InputError("malformed request: 'outputs' must be a list")
    requested = []
    for raw in raw_outputs:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise InputError("malformed request: every requested output needs a string 'name'")
        parameters = raw.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InputError(f"output {raw['name']!r}: 'parameters' must be an object")
        if parameters.get("classification"):
            raise InputError(f"output {raw['name']!r}: the classification extension is not supported")
        requested.append(RequestedOutput(raw["name"], bool(parameters.get("binary_data", False))))
    return requested


def encode_response(
    model_name: str,
    model_version: str,
    outputs: Mapping[str, np.ndarray],
    binary: Mapping[str, bool],
    request_id: str | None = None,
) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header length for the HTTP header."""
    tensors, blobs = [], []
    for name, value in outputs.items():
        value = np.asarray(value)
        tensor = {"name": name, "datatype": datatype_of(value.dtype), "shape": list(value.shape)}
        if binary.get(name):
            blob = (
                serialize_bytes(value) if value.dtype.kind in "OSU" else np.ascontiguousarray(value).tobytes()
            )
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = _json_data(value)
        tensors.append(tensor)
    header = {"model_name": model_name, "model_version": model_version, "outputs": tensors}
    if request_id is not None:
        header["id"] = request_id
    return _join(header, blobs)


def _json_data(value: np.ndarray) -> list:
    flat = value.reshape(-1)
    if value.dtype.kind in "OSU":
        return [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in flat]
    if value.dtype == np.float16:
        flat = flat.astype(np.float32)
    return flat.tolist()


def _join(header: dict, blobs: list[bytes]) -> tuple[bytes, int | None]:
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if not blobs:
        return encoded, None
    return b"".join([encoded, *blobs]), len(encoded)


# --- the client side, used by the bench and the tests -------------------------------------------


def encode_request(
    inputs: Mapping[str, np.ndarray],
    binary: bool = True,
    binary_outputs: bool = True,
    output_names: Sequence[str] | None = None,
) -> tuple[bytes, int | None]:
    """An infer request body for `inputs`; returns the body and the JSON header length (or None)."""
    tensors, blobs = [], []
    for name, value in inputs.items():
        value = np.asarray(value)
        tensor = {"name": name, "datatype": datatype_of(value.dtype), "shape": list(value.shape)}
        if binary:
            blob = (
                serialize_bytes(value) if value.dtype.kind in "OSU" else np.ascontiguousarray(value).tobytes()
            )
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = _json_data(value)
        tensors.append(tensor)
    header: dict = {"inputs": tensors}
    if output_names is not None:
        header["outputs"] = [
            {"name": name, "parameters": {"binary_data": binary_outputs}} for name in output_names
        ]
    else:
        header["parameters"] = {"binary_data_output": binary_outputs}
    return _join(header, blobs)


def decode_response(body: bytes, header_length: str | None = None) -> dict[str, np.ndarray]:
    """Output arrays of an infer response, JSON or binary."""
    header, binary = split_body(body, header_length)
    if "error" in header:
        raise InputError(f"server error: {header['error']}")
    outputs, offset = {}, 0
    for raw in header.get("outputs", []):
        name, shape, datatype, parameters = _tensor_header(raw, "output")
        dtype = numpy_dtype_of(datatype)
        size = parameters.get("binary_data_size")
        if size is not None:
            outputs[name] = _from_bytes(name, binary[offset : offset + size], dtype, shape)
            offset += size
        else:
            outputs[name] = _from_json(name, raw.get("data"), dtype, shape)
    return outputs

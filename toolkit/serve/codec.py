"""Tensors on the wire of the Open Inference Protocol (KServe v2): JSON data and the binary data extension.

Both directions live here, so the server and the bench client speak exactly the same dialect:
a request or response is a JSON header, optionally followed by raw tensor bytes whose JSON
length is announced in the `Inference-Header-Content-Length` HTTP header.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import orjson
import simdjson

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


# numpy's limit on dimensions; a deeper shape is refused as a client error, not a 500 from reshape.
MAX_RANK = 64
INT64_MAX = 2**63 - 1
# Non-finite floats in JSON, as the proto3 JSON mapping of the v2 protocol's gRPC messages writes them:
# JSON has no NaN token, so a bare NaN would make the whole response unparseable.
NON_FINITE_TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
# What simdjson's as_buffer fills for each numpy kind: doubles, int64 or uint64, straight from the text.
BUFFER_TYPE = {"f": ("d", np.float64), "i": ("i", np.int64), "u": ("u", np.uint64)}


def split_body(body, header_length: str | None) -> tuple[simdjson.Object, memoryview]:
    """Separate the JSON header from the binary section announced by `Inference-Header-Content-Length`.

    The header is parsed by simdjson, whose tape keeps tensor data out of Python objects until
    `_from_json` reads it straight into numpy; its depth limit turns deeply nested JSON into a 400.
    """
    view = memoryview(body)
    if header_length is None:
        json_part, binary = view, view[len(view) :]
    else:
        try:
            length = int(header_length)
        except ValueError:
            raise InputError(f"{HEADER_LENGTH} header {header_length!r} is not an integer") from None
        if not 0 <= length <= len(view):
            raise InputError(f"{HEADER_LENGTH} is {length} but the body has only {len(view)} bytes")
        json_part, binary = view[:length], view[length:]
    try:
        # A fresh parser per body: a simdjson parser cannot be reused while its documents are alive.
        header = simdjson.Parser().parse(json_part)
    except (ValueError, RuntimeError, UnicodeDecodeError) as error:
        raise InputError(f"malformed JSON in request body: {error}") from None
    if not isinstance(header, simdjson.Object):
        raise InputError("malformed request: the JSON body must be an object with an 'inputs' list")
    return header, binary


def _plain(value):
    """A small JSON value (names, shapes, parameters) as Python objects."""
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value


def decode_request(body, header_length: str | None = None) -> InferenceRequest:
    """Parse an infer request body (JSON, or JSON plus binary tensor data) into numpy inputs."""
    header, binary = split_body(body, header_length)
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, simdjson.Array) or not len(raw_inputs):
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
            if type(size) is not int or size < 0 or offset + size > len(binary):
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
    request_parameters = _plain(header.get("parameters")) or {}
    if not isinstance(request_parameters, dict):
        raise InputError("malformed request: 'parameters' must be an object")
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InputError("malformed request: 'id' must be a string")
    return InferenceRequest(
        inputs=inputs,
        datatypes=datatypes,
        outputs=_requested_outputs(_plain(header.get("outputs"))),
        binary_output_default=request_parameters.get("binary_data_output", False) is True,
        id=request_id,
        parameters=request_parameters,
    )


def _tensor_header(raw, role: str) -> tuple[str, list[int], str, dict]:
    if not isinstance(raw, simdjson.Object | dict) or not isinstance(raw.get("name"), str):
        raise InputError(f"malformed request: every {role} needs a string 'name'")
    name = raw["name"]
    shape = raw.get("shape")
    if not isinstance(shape, simdjson.Array | list):
        raise InputError(f"{role} {name!r}: 'shape' must be a list of non-negative integers, got {shape!r}")
    if len(shape) > MAX_RANK:
        raise InputError(f"{role} {name!r}: shape has rank {len(shape)}, more than the {MAX_RANK} allowed")
    shape = _plain(shape)
    # bool is an int in Python: `true` is no dimension. simdjson reads integers past 2**64 as floats.
    if not all(type(size) is int and 0 <= size <= INT64_MAX for size in shape):
        raise InputError(
            f"{role} {name!r}: 'shape' must be a list of non-negative integers below 2**63, got {shape!r}"
        )
    if math.prod(max(size, 1) for size in shape) > INT64_MAX:
        raise InputError(f"{role} {name!r}: shape {shape} has more elements than an int64 can count")
    datatype = raw.get("datatype")
    if not isinstance(datatype, str):
        raise InputError(f"{role} {name!r}: 'datatype' must be a string such as FP32")
    parameters = _plain(raw.get("parameters")) or {}
    if not isinstance(parameters, dict):
        raise InputError(f"{role} {name!r}: 'parameters' must be an object")
    return name, shape, datatype, parameters


def _element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _from_json(name: str, data, dtype: np.dtype, shape: list[int]) -> np.ndarray:
    # The v2 protocol allows the data flattened or nested in row-major order.
    if not isinstance(data, simdjson.Array | list):
        raise InputError(f"input {name!r}: 'data' must be a list of {NUMPY_TO_DATATYPE[dtype]} values")
    try:
        flat = _numbers_from_buffer(data, dtype) if dtype.kind in BUFFER_TYPE else None
        if flat is None:
            flat = _values_one_by_one(data, dtype)
    except (TypeError, ValueError, OverflowError) as error:
        raise InputError(
            f"input {name!r}: 'data' does not hold {NUMPY_TO_DATATYPE[dtype]} values: {error}"
        ) from None
    if flat.size != _element_count(shape):
        raise InputError(
            f"input {name!r}: 'data' has {flat.size} elements but shape {shape} needs {_element_count(shape)}"
        )
    return flat.reshape(shape)


def _numbers_from_buffer(data, dtype: np.dtype) -> np.ndarray | None:
    """Numbers parsed by simdjson straight into a numpy buffer, range-checked for `dtype`.

    None when the data holds anything but numbers of the kind (true, null, "NaN", 1.5 for an
    integer type): the slow path then says which, or accepts the proto3 non-finite strings.
    """
    if not isinstance(data, simdjson.Array):
        return None
    buffer_type, buffer_dtype = BUFFER_TYPE[dtype.kind]
    try:
        values = np.frombuffer(data.as_buffer(of_type=buffer_type), dtype=buffer_dtype)
    except (TypeError, ValueError):
        return None
    return _narrowed(values, dtype)


def _narrowed(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if values.size and dtype.kind in "iu" and dtype != values.dtype:
        limits = np.iinfo(dtype)
        if values.min() < limits.min or values.max() > limits.max:
            raise OverflowError(f"a value is outside {limits.min}..{limits.max}")
    if values.size and dtype.kind == "f" and dtype != values.dtype:
        finite = values[np.isfinite(values)]
        if finite.size and np.abs(finite).max() > np.finfo(dtype).max:
            raise OverflowError(f"a value is beyond {dtype}'s largest finite {np.finfo(dtype).max}")
    return values.astype(dtype, copy=False)


def _values_one_by_one(data, dtype: np.dtype) -> np.ndarray:
    items = _flatten(_plain(data))
    if dtype == np.object_:
        return np.array([_to_bytes(item) for item in items], dtype=np.object_)
    if dtype == np.bool_:
        if not all(type(item) is bool for item in items):
            raise TypeError("BOOL elements must be true or false")
        return np.array(items, dtype=np.bool_)
    if dtype.kind == "f":
        return _narrowed(np.array([_float_item(item) for item in items], dtype=np.float64), dtype)
    bad = next((item for item in items if type(item) is not int), None)
    if bad is not None:
        raise TypeError(f"{orjson.dumps(bad).decode()} is not an integer")
    return np.array(items, dtype=dtype)  # numpy refuses a Python int out of the dtype's range


def _float_item(item) -> float:
    if type(item) in (int, float):
        return item
    if isinstance(item, str) and item in NON_FINITE_TEXT:
        return NON_FINITE_TEXT[item]
    raise TypeError(
        f"{orjson.dumps(item).decode()} is not a number "
        '(non-finite values are written "NaN", "Infinity" and "-Infinity")'
    )


def _flatten(data) -> list:
    """Row-major leaves of nested lists, without recursion (the nesting is as deep as simdjson allows)."""
    if not any(isinstance(item, list) for item in data):
        return data
    leaves, stack = [], [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            leaves.append(item)
        else:
            stack.pop()
    return leaves


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
    # A view of the body, which it keeps alive (a batch may outlive the request); a copy only when
    # the JSON header's length left the tensor unaligned for its dtype.
    array = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return array if array.flags.aligned else array.copy()


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


def _json_data(value: np.ndarray):
    """Flat row-major data for JSON: the array itself (orjson writes it from its buffer), or a list
    with "NaN"/"Infinity"/"-Infinity" strings where values are not finite, as proto3 JSON does."""
    flat = value.reshape(-1)
    if value.dtype.kind in "OSU":
        return [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in flat]
    if value.dtype.kind == "f" and not np.isfinite(flat).all():
        return [
            item
            if math.isfinite(item)
            else ("NaN" if math.isnan(item) else "Infinity" if item > 0 else "-Infinity")
            for item in flat.astype(np.float64).tolist()
        ]
    if value.dtype == np.float16 or not value.dtype.isnative:
        flat = flat.astype(value.dtype.newbyteorder("=") if value.dtype != np.float16 else np.float32)
    return np.ascontiguousarray(flat)


def _join(header: dict, blobs: list[bytes]) -> tuple[bytes, int | None]:
    encoded = orjson.dumps(header, option=orjson.OPT_SERIALIZE_NUMPY)
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

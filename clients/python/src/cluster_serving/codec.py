"""The native wire format (SPEC §5): a version byte 0x01 followed by an Avro ``Request`` or ``Result``.

The Avro schemas are the ``.avsc`` files shipped in ``cluster_serving/schemas``, byte-for-byte the
repository's ``src/protocol/native/*.avsc``, shared with every client language.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Dict, List, Mapping, Optional, Tuple

import fastavro
import numpy as np
from numpy.typing import ArrayLike

from .errors import ClusterServingError

#: The version byte in front of every request and result.
NATIVE_VERSION = 1

#: Wire dtype (the Avro ``DType`` symbol) → the little-endian numpy dtype of its bytes.
WIRE_DTYPES: Dict[str, np.dtype] = {
    "FLOAT32": np.dtype("<f4"),
    "FLOAT64": np.dtype("<f8"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

#: numpy (kind, itemsize) → wire dtype.
_WIRE_OF: Dict[Tuple[str, int], str] = {
    ("f", 4): "FLOAT32",
    ("f", 8): "FLOAT64",
    ("i", 4): "INT32",
    ("i", 8): "INT64",
    ("u", 1): "UINT8",
    ("b", 1): "BOOL",
}

SCHEMA_FILES = ("tensor.avsc", "request.avsc", "result.avsc")


def schema_bytes(name: str) -> bytes:
    """The shipped bytes of one schema file (``tensor.avsc``, ``request.avsc`` or ``result.avsc``)."""
    return resources.files(__package__).joinpath("schemas", name).read_bytes()


def _load_schemas() -> Tuple[Any, Any]:
    named: Dict[str, Any] = {}
    fastavro.parse_schema(json.loads(schema_bytes("tensor.avsc")), named_schemas=named)
    request = fastavro.parse_schema(json.loads(schema_bytes("request.avsc")), named_schemas=named)
    result = fastavro.parse_schema(json.loads(schema_bytes("result.avsc")), named_schemas=named)
    return request, result


_REQUEST_SCHEMA, _RESULT_SCHEMA = _load_schemas()


@dataclass(frozen=True)
class ResultError:
    """The error of a failed request: a ``CS_ERR_*`` code and a message."""

    code: str
    message: str


@dataclass(frozen=True)
class Result:
    """A result as the server wrote it: outputs by name, or an error."""

    uri: str
    outputs: Dict[str, np.ndarray] = field(default_factory=dict)
    error: Optional[ResultError] = None

    def raise_for_error(self) -> Dict[str, np.ndarray]:
        """The outputs, or :class:`ClusterServingError` with the result's code when it is an error."""
        if self.error is not None:
            raise ClusterServingError(self.error.code, self.error.message, uri=self.uri)
        return self.outputs


def to_array(name: str, value: ArrayLike) -> np.ndarray:
    """``value`` as a numpy array of a served dtype; anything else is ``CS_ERR_BAD_REQUEST``.

    numpy arrays keep their dtype (pass the model's dtype: a float64 array for a float32 model input is
    refused by the server with ``CS_ERR_SHAPE``). Lists and scalars go through ``numpy.asarray``.
    """
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if (arr.dtype.kind, arr.dtype.itemsize) not in _WIRE_OF:
        raise ClusterServingError(
            "CS_ERR_BAD_REQUEST",
            f"input {name}: dtype {arr.dtype} is not served (use float32, float64, int32, int64, uint8 or bool)",
        )
    return arr


def _tensor_to_wire(name: str, value: ArrayLike) -> Dict[str, Any]:
    arr = to_array(name, value)
    wire = _WIRE_OF[(arr.dtype.kind, arr.dtype.itemsize)]
    data = arr.astype(WIRE_DTYPES[wire], copy=False).tobytes(order="C")
    return {"name": name, "dtype": wire, "shape": [int(d) for d in arr.shape], "data": data}


def _tensors_from_wire(items: List[Dict[str, Any]], what: str) -> Dict[str, np.ndarray]:
    out: Dict[str, np.ndarray] = {}
    for t in items:
        name, wire, shape, data = t["name"], t["dtype"], t["shape"], t["data"]
        dtype = WIRE_DTYPES.get(wire)
        if dtype is None:
            raise ClusterServingError("CS_ERR_BAD_REQUEST", f'{what} "{name}": unknown dtype {wire}')
        if name in out:
            raise ClusterServingError("CS_ERR_BAD_REQUEST", f'{what} "{name}" appears twice')
        if any(d < 0 for d in shape):
            raise ClusterServingError("CS_ERR_BAD_REQUEST", f'{what} "{name}": invalid shape {list(shape)}')
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if len(data) != expected:
            raise ClusterServingError(
                "CS_ERR_BAD_REQUEST",
                f'{what} "{name}": {len(data)} bytes do not match {wire} shape {list(shape)} ({expected} bytes)',
            )
        # One copy, into a writable array in native byte order.
        out[name] = np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(shape)
    return out


def _body(data: bytes, what: str) -> io.BytesIO:
    if len(data) == 0:
        raise ClusterServingError("CS_ERR_BAD_REQUEST", f"empty {what}")
    if data[0] != NATIVE_VERSION:
        raise ClusterServingError(
            "CS_ERR_BAD_REQUEST", f"unsupported {what} version {data[0]} (this client speaks version {NATIVE_VERSION})"
        )
    buf = io.BytesIO(data)
    buf.seek(1)
    return buf


def _encode(schema: Any, record: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(bytes((NATIVE_VERSION,)))
    fastavro.schemaless_writer(buf, schema, record)
    return buf.getvalue()


def encode_request(inputs: Mapping[str, ArrayLike], reply_to: Optional[str] = None) -> bytes:
    """A request's ``data`` field: named tensors (in the mapping's order) and an optional reply stream."""
    if len(inputs) == 0:
        raise ClusterServingError("CS_ERR_BAD_REQUEST", "a request needs at least one input tensor")
    tensors = [_tensor_to_wire(str(name), value) for name, value in inputs.items()]
    return _encode(_REQUEST_SCHEMA, {"inputs": tensors, "replyTo": reply_to})


def decode_request(data: bytes) -> Tuple[Dict[str, np.ndarray], Optional[str]]:
    """The inputs and reply stream of a request's ``data`` field."""
    try:
        value = fastavro.schemaless_reader(_body(data, "request"), _REQUEST_SCHEMA)
    except ClusterServingError:
        raise
    except Exception as err:  # fastavro raises assorted errors on malformed input
        raise ClusterServingError("CS_ERR_BAD_REQUEST", f"malformed request: {err}") from err
    assert isinstance(value, dict)
    return _tensors_from_wire(value["inputs"], "input"), value["replyTo"]


def encode_result(
    uri: str, outputs: Optional[Mapping[str, ArrayLike]] = None, error: Optional[ResultError] = None
) -> bytes:
    """A result as the server writes it (for tests and for Python servers of the same protocol)."""
    record = {
        "uri": uri,
        "outputs": [_tensor_to_wire(str(n), v) for n, v in (outputs or {}).items()],
        "error": None if error is None else {"code": error.code, "message": error.message},
    }
    return _encode(_RESULT_SCHEMA, record)


def decode_result(data: bytes) -> Result:
    """A result (the ``value`` of a result hash, or the ``data`` of a reply entry)."""
    try:
        value = fastavro.schemaless_reader(_body(data, "result"), _RESULT_SCHEMA)
    except ClusterServingError:
        raise
    except Exception as err:
        raise ClusterServingError("CS_ERR_BAD_REQUEST", f"malformed result: {err}") from err
    assert isinstance(value, dict)
    error = value["error"]
    return Result(
        uri=value["uri"],
        outputs=_tensors_from_wire(value["outputs"], "output"),
        error=None if error is None else ResultError(code=error["code"], message=error["message"]),
    )

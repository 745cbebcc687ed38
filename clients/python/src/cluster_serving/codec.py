"""The native wire format (SPEC §5): a version byte 0x01 followed by an Avro ``Request`` or ``Result``.

The Avro schemas are the ``.avsc`` files shipped in ``cluster_serving/schemas``, byte-for-byte the
repository's ``src/protocol/native/*.avsc``, shared with every client language. Messages are written and read
by :mod:`cluster_serving._avro` (hand-written for speed, checked against fastavro by the tests); the
``DType`` enum's order is read from the shipped ``tensor.avsc``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from ._avro import EncodingCache, Truncated, encode_long, encode_string, read_block_count, read_long, read_long_array, read_span, read_string
from .errors import ClusterServingError

#: The version byte in front of every request and result.
NATIVE_VERSION = 1
_VERSION = bytes((NATIVE_VERSION,))

#: Wire dtype (the Avro ``DType`` symbol) → the little-endian numpy dtype of its bytes.
WIRE_DTYPES: Dict[str, np.dtype] = {
    "FLOAT32": np.dtype("<f4"),
    "FLOAT64": np.dtype("<f8"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
    "FLOAT16": np.dtype("<f2"),
}

#: numpy (kind, itemsize) → wire dtype.
_WIRE_OF: Dict[Tuple[str, int], str] = {
    ("f", 4): "FLOAT32",
    ("f", 8): "FLOAT64",
    ("i", 4): "INT32",
    ("i", 8): "INT64",
    ("u", 1): "UINT8",
    ("b", 1): "BOOL",
    ("f", 2): "FLOAT16",
}

SCHEMA_FILES = ("tensor.avsc", "request.avsc", "result.avsc")


def schema_bytes(name: str) -> bytes:
    """The shipped bytes of one schema file (``tensor.avsc``, ``request.avsc`` or ``result.avsc``)."""
    return resources.files(__package__).joinpath("schemas", name).read_bytes()


def _dtype_symbols() -> List[str]:
    """The ``DType`` enum's symbols in schema order: a symbol's index is its wire value."""
    tensor = json.loads(schema_bytes("tensor.avsc"))
    (dtype_field,) = [f for f in tensor["fields"] if f["name"] == "dtype"]
    symbols = list(dtype_field["type"]["symbols"])
    unknown = [s for s in symbols if s not in WIRE_DTYPES]
    if unknown:  # the shipped schema and this module are released together
        raise ImportError(f"cluster_serving/schemas/tensor.avsc has DType symbols this codec does not know: {unknown}")
    return symbols


DTYPE_SYMBOLS: Tuple[str, ...] = tuple(_dtype_symbols())

#: Wire dtype → its encoded enum index (one byte: there are fewer than 64 symbols).
_DTYPE_BYTE: Dict[str, bytes] = {s: encode_long(i) for i, s in enumerate(DTYPE_SYMBOLS)}
#: Enum index → (symbol, wire numpy dtype, native-order numpy dtype) for decoding.
_FROM_INDEX: Tuple[Tuple[str, np.dtype, np.dtype], ...] = tuple(
    (s, WIRE_DTYPES[s], WIRE_DTYPES[s] if WIRE_DTYPES[s].isnative else WIRE_DTYPES[s].newbyteorder("=")) for s in DTYPE_SYMBOLS
)
#: numpy dtype → (encoded enum index, wire dtype), for dtypes that need no conversion (filled lazily).
_FAST: Dict[np.dtype, Tuple[bytes, np.dtype]] = {}

_CACHE = EncodingCache()


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


def _new_result(uri: str, outputs: Dict[str, np.ndarray], error: Optional[ResultError]) -> Result:
    """``Result(uri, outputs, error)`` without the frozen dataclass's ``__init__`` (three ``object.__setattr__``
    calls, a tenth of decoding a small result)."""
    result = object.__new__(Result)
    fields = result.__dict__
    fields["uri"] = uri
    fields["outputs"] = outputs
    fields["error"] = error
    return result


def to_array(name: str, value: ArrayLike) -> np.ndarray:
    """``value`` as a numpy array of a served dtype; anything else is ``CS_ERR_BAD_REQUEST``.

    numpy arrays keep their dtype (pass the model's dtype: a float64 array for a float32 model input is
    refused by the server with ``CS_ERR_SHAPE``). Lists and scalars go through ``numpy.asarray``.
    """
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if (arr.dtype.kind, arr.dtype.itemsize) not in _WIRE_OF:
        raise ClusterServingError(
            "CS_ERR_BAD_REQUEST",
            f"input {name}: dtype {arr.dtype} is not served (use float32, float64, int32, int64, uint8, bool or float16)",
        )
    return arr


def _wire_of(arr: np.ndarray, name: str) -> Tuple[bytes, np.dtype]:
    fast = _FAST.get(arr.dtype)
    if fast is not None:
        return fast
    arr = to_array(name, arr)
    wire = _WIRE_OF[(arr.dtype.kind, arr.dtype.itemsize)]
    found = (_DTYPE_BYTE[wire], WIRE_DTYPES[wire])
    if arr.dtype == found[1]:  # already the wire's bytes (e.g. not big-endian): remember it
        _FAST[arr.dtype] = found
    return found


def _append_tensor(parts: List[Any], name: str, value: ArrayLike) -> None:
    """Appends one ``Tensor``'s encoding: name, dtype, shape, then the element bytes (little-endian, C order)."""
    arr = value if isinstance(value, np.ndarray) else to_array(name, value)
    dtype_byte, wire = _wire_of(arr, name)
    shape = arr.shape
    if arr.dtype != wire or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=wire)  # (0-d arrays come back 1-d: the shape was taken above)
    parts.append(_CACHE.string(name))
    parts.append(dtype_byte)
    parts.append(_CACHE.shape(shape))
    parts.append(encode_long(arr.nbytes))
    parts.append(arr if arr.ndim else arr.tobytes())  # joined without a copy of its own


def _append_tensors(parts: List[Any], tensors: Mapping[str, ArrayLike]) -> None:
    if tensors:
        parts.append(encode_long(len(tensors)))
        for name, value in tensors.items():
            _append_tensor(parts, name if isinstance(name, str) else str(name), value)
    parts.append(b"\x00")


def encode_request(inputs: Mapping[str, ArrayLike], reply_to: Optional[str] = None) -> bytes:
    """A request's ``data`` field: named tensors (in the mapping's order) and an optional reply stream."""
    if len(inputs) == 0:
        raise ClusterServingError("CS_ERR_BAD_REQUEST", "a request needs at least one input tensor")
    parts: List[Any] = [_VERSION]
    _append_tensors(parts, inputs)
    if reply_to is None:
        parts.append(b"\x00")
    else:
        parts.append(b"\x02")
        parts.append(_CACHE.string(reply_to))
    return b"".join(parts)


def encode_result(
    uri: str, outputs: Optional[Mapping[str, ArrayLike]] = None, error: Optional[ResultError] = None
) -> bytes:
    """A result as the server writes it (for tests and for Python servers of the same protocol)."""
    parts: List[Any] = [_VERSION, encode_string(uri)]
    _append_tensors(parts, outputs or {})
    if error is None:
        parts.append(b"\x00")
    else:
        parts.extend((b"\x02", encode_string(error.code), encode_string(error.message)))
    return b"".join(parts)


#: A tensor's header as it was last seen on the wire (its name, dtype, shape and data length: everything
#: before the element bytes), and what it says. Results of one model repeat the same few headers, so a
#: header that starts with one of these bytes is not parsed again (a ``bytes.startswith`` instead).
_Header = Tuple[bytes, str, np.dtype, np.dtype, Tuple[int, ...], int]
_RECENT_HEADERS: List[_Header] = []
_RECENT_LIMIT = 8


def _parse_header(buf: bytes, pos: int, what: str) -> _Header:
    """Reads and checks one tensor header at ``pos``, and remembers it."""
    name, p = read_string(buf, pos)
    index, p = read_long(buf, p)
    dims, p = read_long_array(buf, p)
    nbytes, data_start = read_long(buf, p)
    if not 0 <= index < len(_FROM_INDEX):
        raise ClusterServingError("CS_ERR_BAD_REQUEST", f'{what} "{name}": unknown dtype index {index}')
    symbol, wire, native = _FROM_INDEX[index]
    elements = 1
    for d in dims:
        if d < 0:
            raise ClusterServingError("CS_ERR_BAD_REQUEST", f'{what} "{name}": invalid shape {dims}')
        elements *= d
    if nbytes != elements * wire.itemsize:
        raise ClusterServingError(
            "CS_ERR_BAD_REQUEST",
            f'{what} "{name}": {nbytes} bytes do not match {symbol} shape {dims} ({elements * wire.itemsize} bytes)',
        )
    header = (buf[pos:data_start], name, wire, native, tuple(dims), nbytes)
    recent = _RECENT_HEADERS
    if len(recent) >= _RECENT_LIMIT:
        recent.pop()
    recent.insert(0, header)
    return header


def _read_tensors(buf: bytes, pos: int, what: str) -> Tuple[Dict[str, np.ndarray], int]:
    out: Dict[str, np.ndarray] = {}
    size = len(buf)
    while True:
        b = buf[pos] if pos < size else 0x80
        if b < 0x80 and not b & 1:  # the usual one-byte block count (0 ends the array)
            count = b >> 1
            pos += 1
        else:
            count, pos = read_block_count(buf, pos)
        if count == 0:
            return out, pos
        for _ in range(count):
            for header in _RECENT_HEADERS:
                if buf.startswith(header[0], pos):
                    break
            else:
                header = _parse_header(buf, pos, what)
            encoded, name, wire, native, shape, nbytes = header
            start = pos + len(encoded)
            pos = start + nbytes
            if pos > size:
                raise Truncated(f'{what} "{name}": {nbytes} bytes of data at byte {start} do not fit in {size} bytes')
            if name in out:
                raise ClusterServingError("CS_ERR_BAD_REQUEST", f'{what} "{name}" appears twice')
            # One copy, into a writable, aligned array in native byte order.
            view = np.ndarray(shape, wire, buf, start)
            out[name] = view.copy() if wire is native else view.astype(native)


def _check_version(data: bytes, what: str) -> None:
    if len(data) == 0:
        raise ClusterServingError("CS_ERR_BAD_REQUEST", f"empty {what}")
    if data[0] != NATIVE_VERSION:
        raise ClusterServingError(
            "CS_ERR_BAD_REQUEST", f"unsupported {what} version {data[0]} (this client speaks version {NATIVE_VERSION})"
        )


def _union_index(buf: bytes, pos: int, what: str) -> Tuple[int, int]:
    index, pos = read_long(buf, pos)
    if index not in (0, 1):
        raise ValueError(f"{what} has union index {index} (0 or 1)")
    return index, pos


def decode_request(data: bytes) -> Tuple[Dict[str, np.ndarray], Optional[str]]:
    """The inputs and reply stream of a request's ``data`` field."""
    _check_version(data, "request")
    try:
        inputs, pos = _read_tensors(data, 1, "input")
        has_reply, pos = _union_index(data, pos, "replyTo")
        reply_to = read_string(data, pos)[0] if has_reply else None
    except ClusterServingError:
        raise
    except (ValueError, TypeError) as err:  # truncated bytes, a bad varint or union index, invalid UTF-8
        raise ClusterServingError("CS_ERR_BAD_REQUEST", f"malformed request: {err}") from err
    return inputs, reply_to


def decode_result(data: bytes) -> Result:
    """A result (the ``value`` of a result hash, or the ``data`` of a reply entry)."""
    _check_version(data, "result")
    try:
        n = data[1] if len(data) > 1 else 0x80
        if n < 0x80 and not n & 1 and 2 + (n >> 1) <= len(data):  # a uri under 64 bytes: a one-byte length
            pos = 2 + (n >> 1)
            uri = data[2:pos].decode("utf-8")
        else:
            uri, pos = read_string(data, 1)
        outputs, pos = _read_tensors(data, pos, "output")
        error = None
        if data[pos:pos + 1] != b"\x00" and _union_index(data, pos, "error")[0]:
            pos += 1
            code, pos = read_string(data, pos)
            message, pos = read_string(data, pos)
            error = ResultError(code, message)
    except ClusterServingError:
        raise
    except (ValueError, TypeError) as err:
        raise ClusterServingError("CS_ERR_BAD_REQUEST", f"malformed result: {err}") from err
    return _new_result(uri, outputs, error)

"""The codec on its own: every served dtype to the wire and back, and what it refuses."""

from __future__ import annotations

import io
import json
from typing import Any, Dict, List, Tuple

import fastavro
import numpy as np
import pytest

from cluster_serving import (
    ClusterServingError,
    ResultError,
    decode_request,
    decode_result,
    encode_request,
    encode_result,
    partition_of,
    split_stream_key,
)
from cluster_serving.codec import DTYPE_SYMBOLS, WIRE_DTYPES, schema_bytes

from conftest import identity_inputs


def test_request_round_trips_every_dtype_with_reply_stream() -> None:
    inputs = identity_inputs(rows=3)
    data = encode_request(inputs, reply_to="s:reply:abc")
    assert data[0] == 1
    decoded, reply_to = decode_request(data)
    assert reply_to == "s:reply:abc"
    assert list(decoded) == list(inputs)
    for name, arr in inputs.items():
        assert decoded[name].dtype == arr.dtype and decoded[name].shape == arr.shape
        np.testing.assert_array_equal(decoded[name], arr)
        assert decoded[name].flags.writeable


def test_extreme_values_survive() -> None:
    inputs = {
        "f32": np.array([[np.nan, np.inf, -np.inf, -0.0, np.finfo(np.float32).tiny]], np.float32),
        "f64": np.array([[np.nan, -0.0, np.finfo(np.float64).max]]),
        "i32": np.array([[np.iinfo(np.int32).min, np.iinfo(np.int32).max]], np.int32),
        "i64": np.array([[np.iinfo(np.int64).min, np.iinfo(np.int64).max]], np.int64),
        "u8": np.array([[0, 255]], np.uint8),
        "empty": np.zeros((0, 4), np.float32),
        "scalar": np.array(3.5, np.float64),
    }
    decoded, reply_to = decode_request(encode_request(inputs))
    assert reply_to is None
    for name, arr in inputs.items():
        assert decoded[name].tobytes() == arr.tobytes(), name
        assert decoded[name].shape == arr.shape


def test_big_endian_and_non_contiguous_arrays_are_sent_as_little_endian_c_order() -> None:
    base = np.arange(24, dtype=">f4").reshape(4, 6)
    view = base[:, ::2].T  # non-contiguous, big-endian
    data = encode_request({"x": view})
    decoded, _ = decode_request(data)
    assert decoded["x"].dtype == np.dtype("float32")
    np.testing.assert_array_equal(decoded["x"], view)
    assert np.ascontiguousarray(view).astype("<f4").tobytes() in data


def test_lists_and_scalars_go_through_numpy() -> None:
    decoded, _ = decode_request(encode_request({"a": [[1.0, 2.0]], "b": [[True]], "c": 7}))
    assert decoded["a"].dtype == np.float64 and decoded["b"].dtype == np.bool_ and decoded["c"].dtype == np.int64


@pytest.mark.parametrize("value", [np.zeros(2, np.int16), np.zeros(2, np.uint16), np.array(["a"]), np.zeros(2, np.complex64)])
def test_unserved_dtypes_are_bad_requests(value: np.ndarray) -> None:
    with pytest.raises(ClusterServingError) as info:
        encode_request({"x": value})
    assert info.value.code == "CS_ERR_BAD_REQUEST"


def test_empty_request_is_refused() -> None:
    with pytest.raises(ClusterServingError, match="at least one input"):
        encode_request({})


def test_result_round_trip_and_error_result() -> None:
    outputs = {"y": np.arange(8, dtype=np.float32).reshape(1, 8), "k": np.array([[3]], np.int64)}
    r = decode_result(encode_result("uri-é", outputs))
    assert r.uri == "uri-é" and r.error is None
    np.testing.assert_array_equal(r.outputs["y"], outputs["y"])
    assert r.raise_for_error() is r.outputs
    e = decode_result(encode_result("u", None, ResultError("CS_ERR_SHAPE", "bad shape")))
    assert e.outputs == {} and e.error == ResultError("CS_ERR_SHAPE", "bad shape")
    with pytest.raises(ClusterServingError) as info:
        e.raise_for_error()
    assert (info.value.code, info.value.message, info.value.uri) == ("CS_ERR_SHAPE", "bad shape", "u")


@pytest.mark.parametrize(
    "data, match",
    [(b"", "empty result"), (b"\x02\x00", "unsupported result version 2"), (b"\x01\xff\xff\xff", "malformed result")],
)
def test_bad_result_bytes(data: bytes, match: str) -> None:
    with pytest.raises(ClusterServingError, match=match) as info:
        decode_result(data)
    assert info.value.code == "CS_ERR_BAD_REQUEST"


def test_byte_length_must_match_shape() -> None:
    good = encode_result("u", {"y": np.zeros((1, 2), np.float32)})
    # shape [1, 2] is encoded as: count 2 (0x04), 1 (0x02), 2 (0x04), end 0; make it [1, 3].
    forged = good.replace(b"\x04\x02\x04\x00", b"\x04\x02\x06\x00", 1)
    assert forged != good
    with pytest.raises(ClusterServingError, match="bytes do not match"):
        decode_result(forged)


def test_partition_and_split_keys() -> None:
    assert partition_of("anything", 1) == 0
    assert split_stream_key("s", 1, 0) == "s"
    assert split_stream_key("s", 4, 3) == "s:3"
    # FNV-1a-32 of "a" is 0xe40c292c.
    assert partition_of("a", 2**31) == 0xE40C292C % 2**31


def test_float16_is_sent_as_float16_and_round_trips() -> None:
    """FLOAT16 is the DType enum's last symbol (index 6): half the bytes of float32 on the wire."""
    half = np.array([[0.0, -0.0, 1.5, -2.25, 65504.0, np.inf, -np.inf, np.finfo(np.float16).tiny]], np.float16)
    data = encode_request({"x": half, "big": np.arange(6, dtype=">f2").reshape(2, 3)})
    # name "x", then dtype index 6 (zigzag 12), shape [1, 8], 16 bytes of data.
    assert b"\x02x\x0c\x04\x02\x10\x00\x20" + half.tobytes() in data
    decoded, _ = decode_request(data)
    assert decoded["x"].dtype == np.float16 and decoded["x"].shape == (1, 8)
    assert decoded["x"].tobytes() == half.tobytes()
    assert decoded["big"].dtype == np.float16 and decoded["big"].dtype.isnative
    np.testing.assert_array_equal(decoded["big"], np.arange(6).reshape(2, 3))
    nan = decode_result(encode_result("u", {"y": np.array([np.nan], np.float16)})).outputs["y"]
    assert nan.dtype == np.float16 and np.isnan(nan[0])
    assert "FLOAT16" in WIRE_DTYPES and DTYPE_SYMBOLS[-1] == "FLOAT16"


def _fastavro_schemas() -> Tuple[Any, Any]:
    named: Dict[str, Any] = {}
    fastavro.parse_schema(json.loads(schema_bytes("tensor.avsc")), named_schemas=named)
    request = fastavro.parse_schema(json.loads(schema_bytes("request.avsc")), named_schemas=named)
    result = fastavro.parse_schema(json.loads(schema_bytes("result.avsc")), named_schemas=named)
    return request, result


def _fastavro_encode(schema: Any, record: Dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(b"\x01")
    fastavro.schemaless_writer(buf, schema, record)
    return buf.getvalue()


def _wire(name: str, arr: np.ndarray) -> Dict[str, Any]:
    symbol = {v: k for k, v in WIRE_DTYPES.items()}[arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype]
    return {"name": name, "dtype": symbol, "shape": list(arr.shape), "data": arr.astype(WIRE_DTYPES[symbol]).tobytes()}


def _cases() -> List[Dict[str, np.ndarray]]:
    long_name = "é" * 300  # a name whose length takes a two-byte varint
    return [
        identity_inputs(rows=2),
        {"half": np.ones((3, 70), np.float16), long_name: np.zeros((200, 1), np.uint8)},  # dims >= 64: 2-byte varints
        {"scalar": np.array(2.5), "empty": np.zeros((0, 3), np.int32), "big": np.zeros(70_000, np.uint8)},
    ]


@pytest.mark.parametrize("case", range(3))
def test_requests_are_byte_identical_to_fastavro_and_read_its_bytes(case: int) -> None:
    """The hand-written codec against fastavro on the shipped schemas, both ways."""
    request_schema, _ = _fastavro_schemas()
    inputs = _cases()[case]
    for reply_to in (None, "s:reply:é"):
        record = {"inputs": [_wire(n, a) for n, a in inputs.items()], "replyTo": reply_to}
        expected = _fastavro_encode(request_schema, record)
        assert encode_request(inputs, reply_to=reply_to) == expected
        decoded, got_reply = decode_request(expected)
        assert got_reply == reply_to and list(decoded) == list(inputs)
        for name, arr in inputs.items():
            assert decoded[name].shape == arr.shape and decoded[name].tobytes() == arr.tobytes()


@pytest.mark.parametrize("case", range(3))
def test_results_are_byte_identical_to_fastavro_and_read_its_bytes(case: int) -> None:
    _, result_schema = _fastavro_schemas()
    outputs = _cases()[case]
    expected = _fastavro_encode(result_schema, {"uri": "u-日本", "outputs": [_wire(n, a) for n, a in outputs.items()], "error": None})
    assert encode_result("u-日本", outputs) == expected
    r = decode_result(expected)
    assert r.uri == "u-日本" and r.error is None and list(r.outputs) == list(outputs)
    for name, arr in outputs.items():
        assert r.outputs[name].tobytes() == arr.tobytes() and r.outputs[name].flags.writeable
    error = {"code": "CS_ERR_SHAPE", "message": "ñ" * 100}
    expected = _fastavro_encode(result_schema, {"uri": "e", "outputs": [], "error": error})
    assert encode_result("e", None, ResultError(**error)) == expected
    assert decode_result(expected).error == ResultError(**error)


def test_arrays_written_in_several_blocks_with_byte_sizes_are_read() -> None:
    """Avro lets a writer split an array into blocks, a negative count followed by the block's byte size."""
    y = np.arange(4, dtype=np.float32).reshape(2, 2)
    tensor = b"\x02y" + b"\x00" + b"\x03\x04\x04\x04\x00" + b"\x20" + y.tobytes()  # shape: a block of -2 (2 bytes), then end
    data = b"\x01" + b"\x02u" + b"\x01" + bytes([len(tensor) * 2]) + tensor + b"\x00" + b"\x00"
    r = decode_result(data)
    np.testing.assert_array_equal(r.outputs["y"], y)


def test_a_remembered_header_does_not_skip_checks_of_the_data() -> None:
    """Results repeat their tensor headers, which the decoder remembers: the data must still fit."""
    good = encode_result("u", {"y": np.arange(8, dtype=np.float32).reshape(1, 8)})
    assert decode_result(good).outputs["y"][0, 7] == 7  # the header is remembered now
    with pytest.raises(ClusterServingError, match="malformed result") as info:
        decode_result(good[:-5] + b"\x00")  # the same header, data cut short
    assert info.value.code == "CS_ERR_BAD_REQUEST"
    twice = encode_result("u", {"y": np.zeros((1, 8), np.float32)})
    tensor = twice[4:-2]  # after version, uri "u" and the block count 1; before the array's end and the error
    forged = b"\x01\x02u\x04" + tensor + tensor + b"\x00\x00"
    with pytest.raises(ClusterServingError, match="appears twice"):
        decode_result(forged)


@pytest.mark.parametrize("cut", [2, 5, 9, 12, 20])
def test_truncated_results_are_malformed_not_crashes(cut: int) -> None:
    data = encode_result("uri-1", {"y": np.zeros((1, 8), np.float32)})
    with pytest.raises(ClusterServingError) as info:
        decode_result(data[:cut])
    assert info.value.code == "CS_ERR_BAD_REQUEST"


def test_unknown_dtype_index_and_bad_union_are_refused() -> None:
    data = bytearray(encode_result("u", {"y": np.zeros((1, 2), np.float32)}))
    at = data.index(b"\x02y") + 2
    data[at] = 2 * 40  # dtype index 40
    with pytest.raises(ClusterServingError, match="unknown dtype index 40"):
        decode_result(bytes(data))
    with pytest.raises(ClusterServingError, match="malformed result"):
        decode_result(encode_result("u", {})[:-1] + b"\x06")

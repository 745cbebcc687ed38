"""The codec on its own: every served dtype to the wire and back, and what it refuses."""

from __future__ import annotations

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


@pytest.mark.parametrize("value", [np.zeros(2, np.float16), np.zeros(2, np.int16), np.array(["a"]), np.zeros(2, np.complex64)])
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

"""The Python codec and routing against the TypeScript reference (the compiled dist/ of the repository)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import numpy as np
import pytest

from cluster_serving import decode_result, encode_request, partition_of

from conftest import identity_inputs

NodeRunner = Callable[[str, Any], Any]

READ_STDIN = "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"

URIS = [
    "",
    "a",
    "req-1",
    "0b9f3c1e-5d1a-4c8e-9a57-1f3e0c2d4b6a",
    "image/cat 42.jpg",
    "é",
    "naïve-Ünïcödé",
    "日本語のリクエスト",
    "emoji-😀-🚀",  # astral characters: two UTF-16 code units each
    "lone-\ud800-surrogate",
    "x" * 300,
]
PARTITIONS = [1, 2, 3, 4, 7, 16, 1000]


def test_partition_of_matches_typescript(run_node: NodeRunner) -> None:
    expected: List[List[int]] = run_node(
        READ_STDIN
        + "const { partitionOf } = require('./dist/src/client/partition.js');"
        + "console.log(JSON.stringify(input.uris.map((u) => input.partitions.map((p) => partitionOf(u, p)))));",
        {"uris": URIS, "partitions": PARTITIONS},
    )
    actual = [[partition_of(u, p) for p in PARTITIONS] for u in URIS]
    assert actual == expected
    assert len({row[-1] for row in actual}) > 5, "uris should spread over partitions"


def _tensor_json(arr: np.ndarray) -> Dict[str, Any]:
    return {"dtype": str(arr.dtype), "shape": list(arr.shape), "hex": np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes().hex()}


def test_python_request_decodes_in_typescript_and_encodes_to_the_same_bytes(run_node: NodeRunner) -> None:
    inputs = identity_inputs(rows=2)
    inputs["big"] = np.arange(70_000, dtype=np.float32).reshape(2, 35_000)  # multi-byte Avro lengths
    for reply_to in ("my-stream:reply:5f0c", None):
        data = encode_request(inputs, reply_to=reply_to)
        out = run_node(
            READ_STDIN
            + "const codec = require('./dist/src/protocol/native/native-codec.js');"
            + "const decoded = codec.decodeRequest(Buffer.from(input.hex, 'hex'));"
            + "const inputs = [...decoded.inputs].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, hex: Buffer.from(t.data).toString('hex') }));"
            + "const again = codec.encodeRequest(decoded.inputs, decoded.replyTo).toString('hex');"
            + "console.log(JSON.stringify({ inputs, replyTo: decoded.replyTo ?? null, again }));",
            {"hex": data.hex()},
        )
        assert out["replyTo"] == reply_to
        assert [t["name"] for t in out["inputs"]] == list(inputs)
        for t in out["inputs"]:
            assert {k: t[k] for k in ("dtype", "shape", "hex")} == _tensor_json(inputs[t["name"]]), t["name"]
        assert out["again"] == data.hex(), "TypeScript encodes the same request to different bytes"


def test_typescript_results_decode_in_python(run_node: NodeRunner) -> None:
    outputs = {
        "y_float32": np.array([[1.5, -0.0, np.inf]], np.float32),
        "y_float64": np.array([[np.pi, -1e300]]),
        "y_int32": np.array([[-(2**31), 2**31 - 1]], np.int32),
        "y_int64": np.array([[-(2**63), 2**63 - 1, 0]], np.int64),
        "y_uint8": np.arange(256, dtype=np.uint8).reshape(2, 128),
        "y_bool": np.array([[True, False, True]]),
    }
    out = run_node(
        READ_STDIN
        + "const codec = require('./dist/src/protocol/native/native-codec.js');"
        + "const outputs = new Map(input.outputs.map((t) => [t.name, { dtype: t.dtype, shape: t.shape, data: Buffer.from(t.hex, 'hex') }]));"
        + "console.log(JSON.stringify({"
        + "  ok: codec.encodeResult('uri-ü-😀', outputs, undefined).toString('hex'),"
        + "  err: codec.encodeResult('bad-1', undefined, { code: 'CS_ERR_SHAPE', message: 'input x: wrong — shape' }).toString('hex'),"
        + "}));",
        {"outputs": [{"name": n, **_tensor_json(a)} for n, a in outputs.items()]},
    )
    ok = decode_result(bytes.fromhex(out["ok"]))
    assert ok.uri == "uri-ü-😀" and ok.error is None
    assert list(ok.outputs) == list(outputs)
    for name, arr in outputs.items():
        assert ok.outputs[name].dtype == arr.dtype and ok.outputs[name].shape == arr.shape
        np.testing.assert_array_equal(ok.outputs[name], arr)
    err = decode_result(bytes.fromhex(out["err"]))
    assert err.uri == "bad-1" and err.outputs == {}
    assert err.error is not None and (err.error.code, err.error.message) == ("CS_ERR_SHAPE", "input x: wrong — shape")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "uint8", "bool"])
def test_typescript_accepts_each_dtype_alone(run_node: NodeRunner, dtype: str) -> None:
    arr = identity_inputs(rows=1)[f"x_{dtype}"]
    out = run_node(
        READ_STDIN
        + "const codec = require('./dist/src/protocol/native/native-codec.js');"
        + "const t = codec.decodeRequest(Buffer.from(input.hex, 'hex')).inputs.get('x');"
        + "console.log(JSON.stringify({ dtype: t.dtype, shape: t.shape, hex: Buffer.from(t.data).toString('hex') }));",
        {"hex": encode_request({"x": arr}).hex()},
    )
    assert out == _tensor_json(arr)

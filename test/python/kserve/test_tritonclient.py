"""The KServe v2 REST API of a real server, through the real PyPI ``tritonclient[http]`` client (fixtures: conftest.py)."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import Server, _batch, _import


def test_server_is_live_and_ready(client, server: Server) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "cluster-serving"
    assert "binary_tensor_data" in meta["extensions"]


def test_model_ready(client, server: Server) -> None:
    assert client.is_model_ready(server.model)
    assert client.is_model_ready(server.model, model_version="1")
    assert not client.is_model_ready("no-such-model")


def test_model_metadata(client, server: Server) -> None:
    assert client.get_model_metadata(server.model) == {
        "name": server.model,
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 16]}],
        "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 8]}],
    }


def test_unknown_model_metadata_is_an_error(client) -> None:
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("no-such-model")
    assert info.value.status() == "404"
    assert "no-such-model" in info.value.message()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_equals_onnxruntime(client, server: Server, ort_session, binary: bool) -> None:
    httpclient = _import("tritonclient.http")
    x = _batch(3, 7 if binary else 8)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    outputs = None if binary else [httpclient.InferRequestedOutput("output", binary_data=False)]
    result = client.infer(server.model, [inp], outputs=outputs, request_id="py-1")
    got = result.as_numpy("output")
    expected = ort_session.run(["output"], {"input": x})[0]
    assert got.dtype == np.float32
    assert got.shape == (3, 8)
    np.testing.assert_array_equal(got, expected)
    response = result.get_response()
    assert response["model_name"] == server.model
    assert response["id"] == "py-1"


def test_many_requests_at_once_are_all_answered(client, server: Server, ort_session) -> None:
    httpclient = _import("tritonclient.http")
    pool = httpclient.InferenceServerClient(url=server.url, concurrency=8)
    try:
        pending = []
        for k in range(32):
            x = _batch(1, 100 + k)
            inp = httpclient.InferInput("input", list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            pending.append((x, pool.async_infer(server.model, [inp])))
        for x, request in pending:
            np.testing.assert_array_equal(request.get_result().as_numpy("output"), ort_session.run(["output"], {"input": x})[0])
    finally:
        pool.close()


def test_wrong_shape_is_a_400_naming_the_input(client, server: Server) -> None:
    httpclient = _import("tritonclient.http")
    from tritonclient.utils import InferenceServerException

    x = np.zeros((1, 15), dtype=np.float32)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException) as info:
        client.infer(server.model, [inp])
    assert info.value.status() == "400"
    assert 'input "input"' in info.value.message()
    assert "[-1, 16]" in info.value.message()


def test_wrong_datatype_is_a_400(client, server: Server) -> None:
    httpclient = _import("tritonclient.http")
    from tritonclient.utils import InferenceServerException

    x = np.zeros((1, 16), dtype=np.float64)
    inp = httpclient.InferInput("input", list(x.shape), "FP64")
    inp.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException) as info:
        client.infer(server.model, [inp])
    assert info.value.status() == "400"
    assert "FP32" in info.value.message()


def _png(rgb: np.ndarray) -> bytes:
    """A PNG of an H × W × 3 uint8 array (8-bit RGB, no filter), written with zlib alone."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json-base64"])
def test_image_as_bytes_equals_onnxruntime_on_the_pixels(image_server: Server, tiny_model: Path, binary: bool) -> None:
    """A 224 × 224 PNG (no resize needed, lossless) sent as one BYTES element: raw bytes with binary data, base64
    in JSON. The server decodes, scales and runs the CNN; onnxruntime on the same pixels gives the same logits."""
    httpclient = _import("tritonclient.http")
    ort = _import("onnxruntime")
    rgb = (np.random.default_rng(5 if binary else 6).integers(0, 256, (224, 224, 3))).astype(np.uint8)
    png = _png(rgb)
    client = httpclient.InferenceServerClient(url=image_server.url)
    try:
        meta = client.get_model_metadata(image_server.model)
        assert meta["inputs"] == [{"name": "input", "datatype": "BYTES", "shape": [1]}]
        inp = httpclient.InferInput("input", [1], "BYTES")
        inp.set_data_from_numpy(np.array([png if binary else base64.b64encode(png)], dtype=np.object_), binary_data=binary)
        result = client.infer(image_server.model, [inp])
    finally:
        client.close()
    got = result.as_numpy("logits")
    session = ort.InferenceSession(str(tiny_model.parent / "cnn.onnx"), providers=["CPUExecutionProvider"])
    x = (rgb.astype(np.float32) * np.float32(0.00392156862745098)).transpose(2, 0, 1)[np.newaxis]
    expected = session.run(None, {"input": x})[0]
    assert got.shape == (1, 1000)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)

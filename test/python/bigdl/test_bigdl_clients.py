"""The unmodified released BigDL Cluster Serving clients against this server: bigdl-serving 2.x
(batch dimension sent by the client) and analytics-zoo-serving 0.11 (added by the server)."""
import os
import time

import cv2
import numpy as np
import onnxruntime as ort
import pytest

OLD_NUMPY = tuple(int(x) for x in np.__version__.split(".")[:2]) < (1, 25)


def direct(model, x):
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def query_until(oq, uri, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        r = oq.query(uri)
        if not (isinstance(r, str) and r == "[]"):
            return r
        time.sleep(0.02)
    raise TimeoutError(uri)


@pytest.fixture(scope="module")
def bigdl(cluster):
    from bigdl.serving.client import InputQueue, OutputQueue
    iq = InputQueue(host=cluster["host"], port=cluster["port"], name="serving_stream")
    oq = OutputQueue(host=cluster["host"], port=cluster["port"], name="serving_stream")
    return iq, oq


def test_dense_tensor_query_equals_direct_inference(bigdl, cluster):
    iq, oq = bigdl
    x = (np.arange(16, dtype=np.float32).reshape(1, 16) - 8) / 5
    iq.enqueue("dense-1", t=x)
    got = query_until(oq, "dense-1")
    np.testing.assert_allclose(got, direct(cluster["models"] / "tiny.onnx", x), rtol=1e-5, atol=1e-6)
    assert got.shape == (1, 8)


def test_several_requests_and_dequeue(bigdl, cluster):
    iq, oq = bigdl
    xs = {f"many-{i}": np.full((1, 16), i / 10, dtype=np.float32) for i in range(5)}
    for uri, x in xs.items():
        iq.enqueue(uri, t=x)
    for uri in xs:
        query_until(oq, uri)
    out = oq.dequeue()
    for uri, x in xs.items():
        np.testing.assert_allclose(out[uri], direct(cluster["models"] / "tiny.onnx", x), rtol=1e-5, atol=1e-6)
    assert all(oq.query(uri) == "[]" for uri in xs), "dequeue deletes what it returns"


def test_bad_input_gets_nan_and_neighbours_succeed(bigdl):
    iq, oq = bigdl
    iq.enqueue("bad-shape", t=np.zeros((1, 5), dtype=np.float32))
    iq.enqueue("good-after-bad", t=np.zeros((1, 16), dtype=np.float32))
    assert query_until(oq, "bad-shape") == "NaN"
    assert query_until(oq, "good-after-bad").shape == (1, 8)


@pytest.mark.skipif(not OLD_NUMPY, reason="the released predict() compares an ndarray with '[]', which numpy >= 1.25 refuses (reference/bigdl-protocol.md)")
def test_predict(bigdl, cluster):
    iq, _ = bigdl
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(1, 16)
    got = iq.predict(x, timeout=20)
    np.testing.assert_allclose(got, direct(cluster["models"] / "tiny.onnx", x), rtol=1e-5, atol=1e-6)


def test_top_n_arrives_as_two_tensors(cluster):
    """`postprocess: { type: topN, n: 3 }`: the released client gets a list of two arrays, indices then scores
    (BigDL's wire carries float32 only, so the indices arrive as whole floats)."""
    from bigdl.serving.client import InputQueue, OutputQueue
    iq = InputQueue(host=cluster["host"], port=cluster["port"], name="topn_stream")
    oq = OutputQueue(host=cluster["host"], port=cluster["port"], name="topn_stream")
    x = (np.arange(16, dtype=np.float32).reshape(1, 16) % 5 - 2) / 3
    iq.enqueue("top3-1", t=x)
    got = query_until(oq, "top3-1")
    assert isinstance(got, list) and len(got) == 2, got
    indices, scores = got
    full = direct(cluster["models"] / "tiny.onnx", x)
    expected = np.argsort(-full, axis=1, kind="stable")[:, :3]
    assert indices.shape == (1, 3) and scores.shape == (1, 3)
    np.testing.assert_array_equal(indices, expected.astype(np.float32))
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, axis=1), rtol=1e-5, atol=1e-6)


def test_image_decoded_bgr_chw_like_the_original(cluster):
    from bigdl.serving.client import InputQueue, OutputQueue
    iq = InputQueue(host=cluster["host"], port=cluster["port"], name="image_stream")
    oq = OutputQueue(host=cluster["host"], port=cluster["port"], name="image_stream")
    yy, xx = np.mgrid[0:224, 0:224]
    img = np.stack([(xx % 256), (yy % 256), ((xx + yy) // 2 % 256)], axis=-1).astype(np.uint8)  # BGR
    path = str(cluster["tmp"] / "image.png")
    cv2.imwrite(path, img)
    iq.enqueue("image-1", image=path)
    got = query_until(oq, "image-1", seconds=60)
    # What the client sent: the file re-encoded as JPEG; the original server decoded it BGR, raw, CHW.
    sent = cv2.imdecode(cv2.imencode(".jpg", cv2.imread(path))[1], cv2.IMREAD_COLOR)
    x = sent.transpose(2, 0, 1)[None].astype(np.float32)
    want = direct(cluster["models"] / "cnn.onnx", x)
    assert got.shape == (1, 1000)
    assert np.max(np.abs(got - want)) < 0.05 * max(1.0, float(np.max(np.abs(want))))
    assert int(np.argmax(got)) == int(np.argmax(want))


def test_corrupt_image_gets_nan(cluster):
    from bigdl.serving.client import InputQueue, OutputQueue
    iq = InputQueue(host=cluster["host"], port=cluster["port"], name="image_stream")
    oq = OutputQueue(host=cluster["host"], port=cluster["port"], name="image_stream")
    import base64
    corrupt = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 64).decode()
    iq.enqueue("corrupt-image", image={"b64": corrupt})
    assert query_until(oq, "corrupt-image") == "NaN"


def test_analytics_zoo_0_11_client_without_batch_dimension(cluster):
    zoo = pytest.importorskip("zoo.serving.client") if not os.environ.get("CS_TEST_STRICT") else __import__("zoo.serving.client", fromlist=["InputQueue"])
    iq = zoo.InputQueue(host=cluster["host"], port=cluster["port"], name="zoo_stream")
    oq = zoo.OutputQueue(host=cluster["host"], port=cluster["port"], name="zoo_stream")
    x = np.linspace(0, 1, 16, dtype=np.float32)  # no batch dimension (0.11 convention)
    iq.enqueue("zoo-1", t=x)
    got = query_until(oq, "zoo-1")
    np.testing.assert_allclose(got, direct(cluster["models"] / "tiny.onnx", x[None])[0], rtol=1e-5, atol=1e-6)
    assert got.shape == (8,)
    iq.enqueue("zoo-bad", t=np.zeros(3, dtype=np.float32))
    assert query_until(oq, "zoo-bad") == "NaN"
    if OLD_NUMPY:
        np.testing.assert_allclose(iq.predict(x, timeout=20), got, rtol=1e-6)


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_analytics_zoo_0_11_image_takes_the_model_layout(cluster, layout):
    """The topology names no layout: an image from the 0.11 client reaches a model whose input is
    [n, h, w, 3] channels-last and one whose input is [n, 3, h, w] channels-first, both BGR and raw 0–255,
    as the original server did for TensorFlow and BigDL models. The models return each channel's mean."""
    zoo = __import__("zoo.serving.client", fromlist=["InputQueue"])
    iq = zoo.InputQueue(host=cluster["host"], port=cluster["port"], name=f"zoo_{layout}_stream")
    oq = zoo.OutputQueue(host=cluster["host"], port=cluster["port"], name=f"zoo_{layout}_stream")
    yy, xx = np.mgrid[0:40, 0:24]
    img = np.stack([30 + xx, 120 + yy, 220 - yy], axis=-1).astype(np.uint8)  # BGR, 40 high × 24 wide
    path = str(cluster["tmp"] / f"layout-{layout}.png")
    cv2.imwrite(path, img)
    iq.enqueue(f"layout-{layout}", image=path)
    got = query_until(oq, f"layout-{layout}", seconds=60)
    assert not (isinstance(got, str) and got == "NaN"), "the image was decoded in the wrong layout for the model"
    sent = cv2.imdecode(cv2.imencode(".jpg", cv2.imread(path))[1], cv2.IMREAD_COLOR).astype(np.float32)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, sent.mean(axis=(0, 1)), atol=2.0)  # JPEG decoders differ slightly

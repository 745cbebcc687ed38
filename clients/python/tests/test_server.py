"""The client against a real server: `cs start` / `cs taskmanager start` with real Redis and ONNX Runtime."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List

import numpy as np
import pytest
import redis

from cluster_serving import ClusterServingError, InputQueue, OutputQueue, Result, partition_of

from conftest import DTYPE_NAMES, Cluster, identity_inputs, need, tiny_input


@pytest.fixture(scope="module")
def tiny_session(cluster: Cluster) -> Any:
    """onnxruntime (Python) on the same tiny.onnx the server runs."""
    try:
        import onnxruntime as ort
    except ImportError:
        need(False, "onnxruntime is not installed (pip install 'cluster-serving-client[test]')")
    return ort.InferenceSession(str(cluster.tiny_model), providers=["CPUExecutionProvider"])


@pytest.fixture()
def tiny_queue(cluster: Cluster) -> Iterator[InputQueue]:
    with cluster.queue(cluster.tiny) as q:
        yield q


def wait_for_result(out: OutputQueue, uri: str, timeout: float = 20.0) -> Result:
    """Waits for a stored result (the test polls; the client's predict never does)."""
    deadline = time.monotonic() + timeout
    while True:
        r = out.query(uri)
        if r is not None:
            return r
        if time.monotonic() > deadline:
            raise AssertionError(f"no result for {uri} within {timeout} s")
        time.sleep(0.02)


def test_predict_equals_onnxruntime(tiny_queue: InputQueue, tiny_session: Any) -> None:
    for rows, seed in ((1, 1), (3, 2)):
        x = tiny_input(rows, seed)
        out = tiny_queue.predict({"input": x}, timeout=10)
        assert list(out) == ["output"]
        assert out["output"].dtype == np.float32 and out["output"].shape == (rows, 8)
        (direct,) = tiny_session.run(["output"], {"input": x})
        np.testing.assert_allclose(out["output"], direct, rtol=1e-5, atol=1e-6)


def test_top_n_arrives_as_int32_indices_and_float32_scores(cluster: Cluster, tiny_session: Any) -> None:
    """`postprocess: { type: topN, n: 3 }` turns `output` into two tensors, best first, equal to numpy's top 3."""
    x = tiny_input(4, seed=21)
    with cluster.queue(cluster.topn) as q:
        out = q.predict({"input": x}, timeout=10)
    assert sorted(out) == ["output_indices", "output_scores"]
    indices, scores = out["output_indices"], out["output_scores"]
    assert indices.dtype == np.int32 and indices.shape == (4, 3)
    assert scores.dtype == np.float32 and scores.shape == (4, 3)
    (direct,) = tiny_session.run(["output"], {"input": x})
    expected = np.argsort(-direct, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(direct, expected, axis=1), rtol=1e-5, atol=1e-6)


def test_concurrent_predicts_from_many_threads(cluster: Cluster, tiny_queue: InputQueue, tiny_session: Any) -> None:
    xs = [tiny_input(1, seed) for seed in range(64)]
    with ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(lambda x: tiny_queue.predict({"input": x}, timeout=20)["output"], xs))
    (direct,) = tiny_session.run(["output"], {"input": np.concatenate(xs)})
    np.testing.assert_allclose(np.concatenate(outs), direct, rtol=1e-5, atol=1e-6)


def test_predict_cleans_up_result_key_and_reply_entries(cluster: Cluster, redis_client: "redis.Redis[bytes]") -> None:
    q = cluster.queue(cluster.tiny)
    try:
        uri = f"clean-{uuid.uuid4()}"
        q.predict({"input": tiny_input()}, timeout=10, uri=uri)
        # The reply carried the result: its stored copy is deleted, the reply stream trimmed.
        deadline = time.monotonic() + 5
        while (redis_client.exists(f"{cluster.tiny.stream}:result:{uri}") or redis_client.xlen(q.reply_stream)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert redis_client.exists(f"{cluster.tiny.stream}:result:{uri}") == 0
        assert redis_client.xlen(q.reply_stream) == 0
    finally:
        q.close()
    assert redis_client.exists(q.reply_stream) == 0, "close() deletes the reply stream"
    with pytest.raises(ClusterServingError) as info:
        q.predict({"input": tiny_input()})
    assert info.value.code == "CS_ERR_CLOSED"


def test_every_dtype_round_trips_through_the_server(cluster: Cluster) -> None:
    with cluster.queue(cluster.identity) as q:
        for rows in (1, 4):
            inputs = identity_inputs(rows)
            out = q.predict(inputs, timeout=10)
            assert sorted(out) == sorted(f"y_{n}" for n in DTYPE_NAMES)
            for n in DTYPE_NAMES:
                sent, got = inputs[f"x_{n}"], out[f"y_{n}"]
                assert got.dtype == sent.dtype, n
                assert got.shape == sent.shape, n
                assert got.tobytes() == sent.tobytes(), n


def test_one_megabyte_tensor_round_trip(cluster: Cluster) -> None:
    big = np.random.default_rng(7).standard_normal((1, 262_144)).astype(np.float32)  # 1 MiB
    big_bytes = np.random.default_rng(8).integers(0, 256, (1, 1 << 20), dtype=np.uint8)  # 1 MiB
    with cluster.queue(cluster.identity) as q:
        out = q.predict(identity_inputs(1, float32=big, uint8=big_bytes), timeout=60)
    assert out["y_float32"].shape == big.shape and out["y_float32"].tobytes() == big.tobytes()
    assert out["y_uint8"].shape == big_bytes.shape and out["y_uint8"].tobytes() == big_bytes.tobytes()


def test_enqueue_then_query(cluster: Cluster, tiny_session: Any) -> None:
    x = tiny_input(2, seed=11)
    with cluster.queue(cluster.tiny) as q, OutputQueue(cluster.redis_url, stream=cluster.tiny.stream) as out:
        uri_kw, uri_map = f"enq-kw-{uuid.uuid4()}", f"enq-map-{uuid.uuid4()}"
        assert out.query(uri_kw) is None
        entry = q.enqueue(uri_kw, input=x)
        assert "-" in entry
        q.enqueue(uri_map, {"input": x})
        (direct,) = tiny_session.run(["output"], {"input": x})
        for uri in (uri_kw, uri_map):
            r = wait_for_result(out, uri)
            assert r.uri == uri and r.error is None
            np.testing.assert_allclose(r.outputs["output"], direct, rtol=1e-5, atol=1e-6)
            assert out.query(uri) is not None, "query leaves the result in place"


def test_dequeue_takes_every_result_and_routing_matches_the_server(cluster: Cluster, redis_client: "redis.Redis[bytes]") -> None:
    job = cluster.parts
    uris = [f"deq-{i}-{uuid.uuid4().hex[:6]}" for i in range(12)] + ["deq-é-日本-😀"]
    with cluster.queue(job) as q, OutputQueue(cluster.redis_url, stream=job.stream) as out:
        for i, uri in enumerate(uris):
            assert q.stream_for(uri) == f"{job.stream}:{partition_of(uri, job.partitions)}"
            q.enqueue(uri, input=tiny_input(1, seed=i))
        for uri in uris:
            wait_for_result(out, uri)
            # The server records which split entry produced the result: the split this client chose.
            entry = redis_client.hget(f"{job.stream}:result:{uri}", "entry")
            assert entry is not None and entry.decode().startswith(q.stream_for(uri) + "/"), (uri, entry)
        assert len({q.stream_for(u) for u in uris}) == job.partitions, "the uris should cover every split"
        taken = {r.uri: r for r in out.dequeue()}
        assert set(uris) <= set(taken)
        assert all(taken[u].error is None and taken[u].outputs["output"].shape == (1, 8) for u in uris)
        assert all(out.query(u) is None for u in uris), "dequeue deletes what it returns"
        assert not any(r.uri in uris for r in out.dequeue())


def test_timeout_when_no_server_reads_the_stream(cluster: Cluster, redis_client: "redis.Redis[bytes]") -> None:
    stream = f"{cluster.prefix}-nobody-{uuid.uuid4().hex[:6]}"
    q = InputQueue(cluster.redis_url, stream=stream)
    try:
        started = time.monotonic()
        with pytest.raises(ClusterServingError) as info:
            q.predict({"input": tiny_input()}, timeout=1.0)
        elapsed = time.monotonic() - started
        assert info.value.code == "CS_ERR_TIMEOUT"
        assert isinstance(info.value, TimeoutError)
        # Not before its deadline; the upper bound only catches a wait that ignores it (no speed claim).
        assert 1.0 <= elapsed < 30, f"timed out after {elapsed:.3f} s"
        # It is a TimeoutError for callers that know nothing of Cluster Serving.
        with pytest.raises(TimeoutError):
            q.predict({"input": tiny_input()}, timeout=0.2)
    finally:
        q.close()
        redis_client.unlink(stream)


def test_wrong_shape_raises_cs_err_shape(tiny_queue: InputQueue) -> None:
    with pytest.raises(ClusterServingError) as info:
        tiny_queue.predict({"input": np.zeros((1, 15), np.float32)}, timeout=10)
    assert info.value.code == "CS_ERR_SHAPE"
    assert "input" in info.value.message
    with pytest.raises(ClusterServingError) as info:
        tiny_queue.predict({"input": np.zeros((1, 16), np.float64)}, timeout=10)
    assert info.value.code == "CS_ERR_SHAPE"
    r = tiny_queue.predict_result({"input": np.zeros((2, 3), np.float32)}, timeout=10, uri="shape-result")
    assert r.uri == "shape-result" and r.outputs == {}
    assert r.error is not None and r.error.code == "CS_ERR_SHAPE"


def test_unserved_dtype_is_refused_before_sending(tiny_queue: InputQueue) -> None:
    with pytest.raises(ClusterServingError) as info:
        tiny_queue.predict({"input": np.zeros((1, 16), np.int16)}, timeout=1)
    assert info.value.code == "CS_ERR_BAD_REQUEST"


def test_close_fails_waiting_predicts_with_cs_err_closed(cluster: Cluster, redis_client: "redis.Redis[bytes]") -> None:
    stream = f"{cluster.prefix}-closing-{uuid.uuid4().hex[:6]}"
    q = InputQueue(cluster.redis_url, stream=stream)
    errors: List[BaseException] = []

    def wait() -> None:
        try:
            q.predict({"input": tiny_input()}, timeout=30)
        except BaseException as err:  # noqa: BLE001 - recorded for the assertion
            errors.append(err)

    t = threading.Thread(target=wait)
    t.start()
    # The predict is waiting once its request is on the stream (nobody serves this stream).
    deadline = time.monotonic() + 30
    while redis_client.xlen(stream) == 0:
        assert time.monotonic() < deadline, "the request was never written"
        time.sleep(0.02)
    q.close()
    # Closing wakes the waiter: it fails with CS_ERR_CLOSED, not with its 30 s CS_ERR_TIMEOUT.
    t.join(60)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ClusterServingError) and errors[0].code == "CS_ERR_CLOSED"
    redis_client.unlink(stream)


def test_wait_ready_returns_for_a_serving_job_and_says_what_it_waits_for_otherwise(cluster: Cluster, redis_client: "redis.Redis[bytes]") -> None:
    # The JobManager records the job's readiness in <stream>:ready once every subtask serves.
    with cluster.queue(cluster.tiny) as q:
        q.wait_ready(timeout=60)
        assert redis_client.hget(f"{cluster.tiny.stream}:ready", "ready") == b"1"
        out = q.predict({"input": tiny_input()}, timeout=30)
        assert out["output"].shape == (1, 8)
    nobody = f"{cluster.prefix}-nobody-{uuid.uuid4().hex[:6]}"
    with InputQueue(cluster.redis_url, stream=nobody) as q:
        with pytest.raises(ClusterServingError) as caught:
            q.wait_ready(timeout=0.3)
    assert caught.value.code == "CS_ERR_TIMEOUT" and "no job serves stream" in caught.value.message
    # A failed job ends the wait at once with its code.
    failed = f"{cluster.prefix}-failed-{uuid.uuid4().hex[:6]}"
    redis_client.hset(f"{failed}:ready", mapping={"state": "FAILED", "ready": "0", "job": "j1", "code": "CS_ERR_MODEL_LOAD", "reason": "model unreadable"})
    try:
        with InputQueue(cluster.redis_url, stream=failed) as q:
            with pytest.raises(ClusterServingError) as caught:
                q.wait_ready(timeout=30)
        assert caught.value.code == "CS_ERR_MODEL_LOAD" and "model unreadable" in caught.value.message
    finally:
        redis_client.delete(f"{failed}:ready")

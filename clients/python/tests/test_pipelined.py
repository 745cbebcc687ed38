"""Pipelined predicts against the real server: many at once from one thread, from many threads, error results and
deadlines in a batch, and a failing XADD."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Dict, Iterator, List

import numpy as np
import pytest
import redis

from cluster_serving import ClusterServingError, InputQueue

from conftest import Cluster, need, tiny_input


@pytest.fixture(scope="module")
def tiny_session(cluster: Cluster) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        need(False, "onnxruntime is not installed (pip install 'cluster-serving-client[test]')")
    return ort.InferenceSession(str(cluster.tiny_model), providers=["CPUExecutionProvider"])


@pytest.fixture()
def tiny_queue(cluster: Cluster) -> Iterator[InputQueue]:
    with cluster.queue(cluster.tiny) as q:
        yield q


def expected_outputs(session: Any, xs: List[np.ndarray]) -> np.ndarray:
    (direct,) = session.run(["output"], {"input": np.concatenate(xs)})
    return direct


def test_predict_many_returns_each_result_in_order(tiny_queue: InputQueue, tiny_session: Any) -> None:
    xs = [tiny_input(1 + i % 3, seed=i) for i in range(600)]
    outs = tiny_queue.predict_many([{"input": x} for x in xs], timeout=60)
    assert len(outs) == len(xs)
    assert [o["output"].shape for o in outs] == [(x.shape[0], 8) for x in xs]
    np.testing.assert_allclose(np.concatenate([o["output"] for o in outs]), expected_outputs(tiny_session, xs), rtol=1e-5, atol=1e-6)
    assert tiny_queue.predict_many([], timeout=1) == []


def test_many_threads_share_one_pipelined_queue(tiny_queue: InputQueue, tiny_session: Any) -> None:
    """Each caller gets its own result back although many requests travel per round trip."""
    threads, per_thread = 12, 60
    xs = [[tiny_input(1, seed=1000 + t * per_thread + i) for i in range(per_thread)] for t in range(threads)]
    got: Dict[int, List[np.ndarray]] = {}
    errors: List[BaseException] = []

    def work(t: int) -> None:
        try:
            got[t] = [tiny_queue.predict({"input": x}, timeout=60)["output"] for x in xs[t]]
        except BaseException as err:  # noqa: BLE001 - recorded for the assertion
            errors.append(err)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert errors == []
    for t in range(threads):
        np.testing.assert_allclose(np.concatenate(got[t]), expected_outputs(tiny_session, xs[t]), rtol=1e-5, atol=1e-6)


def test_error_results_keep_their_place_in_a_batch(tiny_queue: InputQueue) -> None:
    batch = [{"input": tiny_input(1, seed=i)} if i % 4 else {"input": np.zeros((1, 15), np.float32)} for i in range(40)]
    results = tiny_queue.predict_many_results(batch, timeout=60)
    assert [r.error.code if r.error else None for r in results] == [None if i % 4 else "CS_ERR_SHAPE" for i in range(40)]
    assert all(r.outputs["output"].shape == (1, 8) for i, r in enumerate(results) if i % 4)
    with pytest.raises(ClusterServingError) as info:
        tiny_queue.predict_many(batch, timeout=60)
    assert info.value.code == "CS_ERR_SHAPE"


def test_a_batch_without_a_server_times_out_at_its_deadline(cluster: Cluster, redis_client: "redis.Redis[bytes]") -> None:
    stream = f"{cluster.prefix}-nobody-many-{uuid.uuid4().hex[:6]}"
    with InputQueue(cluster.redis_url, stream=stream) as q:
        batch = [{"input": tiny_input()}] * 50
        started = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            q.predict_many(batch, timeout=1.0)
        assert time.monotonic() - started >= 1.0
        assert isinstance(info.value, ClusterServingError) and info.value.code == "CS_ERR_TIMEOUT"
        results = q.predict_many_results(batch, timeout=0.5)
        assert [r.error.code for r in results if r.error] == ["CS_ERR_TIMEOUT"] * 50
        assert redis_client.xlen(stream) == 100, "every request was written once"
    redis_client.unlink(stream)


def test_a_failed_xadd_fails_that_request_at_once(cluster: Cluster, redis_client: "redis.Redis[bytes]") -> None:
    """A Redis error reply to one XADD (here: the stream key holds a string) is that request's error, not a timeout."""
    stream = f"{cluster.prefix}-wrongtype-{uuid.uuid4().hex[:6]}"
    redis_client.set(stream, b"not a stream")
    try:
        with InputQueue(cluster.redis_url, stream=stream) as q:
            started = time.monotonic()
            with pytest.raises(ClusterServingError) as info:
                q.predict({"input": tiny_input()}, timeout=30)
            assert info.value.code == "CS_ERR_CONNECTOR" and "WRONGTYPE" in info.value.message
            assert time.monotonic() - started < 30, "failed at once, not at the deadline"
            with pytest.raises(ClusterServingError) as info:
                q.enqueue("wrongtype-1", input=tiny_input())
            assert info.value.code == "CS_ERR_CONNECTOR"
            with pytest.raises(ClusterServingError) as info:
                q.predict_many_results([{"input": tiny_input()}] * 3, timeout=30)
            assert info.value.code == "CS_ERR_CONNECTOR"
    finally:
        redis_client.unlink(stream)


def test_a_uri_already_waiting_is_refused(cluster: Cluster, redis_client: "redis.Redis[bytes]") -> None:
    stream = f"{cluster.prefix}-dup-{uuid.uuid4().hex[:6]}"
    with InputQueue(cluster.redis_url, stream=stream) as q:
        waiting = threading.Thread(target=lambda: pytest.raises(ClusterServingError, q.predict, {"input": tiny_input()}, 5, uri="same"))
        waiting.start()
        deadline = time.monotonic() + 5
        while redis_client.xlen(stream) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(ClusterServingError) as info:
            q.predict({"input": tiny_input()}, timeout=1, uri="same")
        assert info.value.code == "CS_ERR_BAD_REQUEST" and "already waiting" in info.value.message
        q.close()
        waiting.join()
    redis_client.unlink(stream)

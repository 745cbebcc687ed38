"""AsyncInputQueue against the real server: gather of many predicts, batches, deadlines, error results, close."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Awaitable, Callable, List, TypeVar

import numpy as np
import pytest
import redis

from cluster_serving import AsyncInputQueue, ClusterServingError, ClusterServingTimeoutError, OutputQueue, Result

from conftest import Cluster, identity_inputs, need, tiny_input

T = TypeVar("T")


@pytest.fixture(scope="module")
def tiny_session(cluster: Cluster) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        need(False, "onnxruntime is not installed (pip install 'cluster-serving-client[test]')")
    return ort.InferenceSession(str(cluster.tiny_model), providers=["CPUExecutionProvider"])


def with_queue(cluster: Cluster, stream: str, body: Callable[[AsyncInputQueue], Awaitable[T]]) -> T:
    async def main() -> T:
        async with AsyncInputQueue(cluster.redis_url, stream=stream) as q:
            return await body(q)

    return asyncio.run(main())


def test_gather_of_many_predicts_equals_onnxruntime(cluster: Cluster, tiny_session: Any) -> None:
    xs = [tiny_input(1 + i % 2, seed=i) for i in range(1000)]

    async def body(q: AsyncInputQueue) -> List[Any]:
        return await asyncio.gather(*(q.predict({"input": x}, timeout=60) for x in xs))

    outs = with_queue(cluster, cluster.tiny.stream, body)
    (direct,) = tiny_session.run(["output"], {"input": np.concatenate(xs)})
    np.testing.assert_allclose(np.concatenate([o["output"] for o in outs]), direct, rtol=1e-5, atol=1e-6)


def test_every_dtype_round_trips(cluster: Cluster) -> None:
    inputs = identity_inputs(3)
    out = with_queue(cluster, cluster.identity.stream, lambda q: q.predict(inputs, timeout=30))
    for name, sent in inputs.items():
        got = out["y" + name[1:]]
        assert got.dtype == sent.dtype and got.tobytes() == sent.tobytes()


def test_predict_many_and_error_results(cluster: Cluster, tiny_session: Any) -> None:
    xs = [tiny_input(1, seed=500 + i) for i in range(300)]
    bad = {"input": np.zeros((1, 16), np.float64)}

    async def body(q: AsyncInputQueue) -> Any:
        outs = await q.predict_many([{"input": x} for x in xs], timeout=60)
        results = await q.predict_many_results([{"input": xs[0]}, bad, {"input": xs[1]}], timeout=60)
        with pytest.raises(ClusterServingError) as many:
            await q.predict_many([{"input": xs[0]}, bad], timeout=60)
        with pytest.raises(ClusterServingError) as one:
            await q.predict(bad, timeout=60)
        single = await q.predict_result(bad, timeout=60, uri="async-shape")
        return outs, results, many.value, one.value, single

    outs, results, many, one, single = with_queue(cluster, cluster.tiny.stream, body)
    (direct,) = tiny_session.run(["output"], {"input": np.concatenate(xs)})
    np.testing.assert_allclose(np.concatenate([o["output"] for o in outs]), direct, rtol=1e-5, atol=1e-6)
    assert [r.error.code if r.error else None for r in results] == [None, "CS_ERR_SHAPE", None]
    assert many.code == "CS_ERR_SHAPE" and one.code == "CS_ERR_SHAPE"
    assert isinstance(single, Result) and single.uri == "async-shape" and single.error is not None and single.error.code == "CS_ERR_SHAPE"


def test_deadline_without_a_server(cluster: Cluster, redis_client: "redis.Redis[bytes]") -> None:
    stream = f"{cluster.prefix}-async-nobody-{uuid.uuid4().hex[:6]}"

    async def body(q: AsyncInputQueue) -> Any:
        started = time.monotonic()
        with pytest.raises(ClusterServingTimeoutError) as one:
            await q.predict({"input": tiny_input()}, timeout=1.0)
        elapsed = time.monotonic() - started
        with pytest.raises(TimeoutError):
            await q.predict_many([{"input": tiny_input()}] * 20, timeout=0.3)
        results = await q.predict_many_results([{"input": tiny_input()}] * 5, timeout=0.3)
        return one.value, elapsed, results

    err, elapsed, results = with_queue(cluster, stream, body)
    assert err.code == "CS_ERR_TIMEOUT" and isinstance(err, TimeoutError) and err.uri
    assert elapsed >= 1.0
    assert [r.error.code for r in results if r.error] == ["CS_ERR_TIMEOUT"] * 5
    assert redis_client.xlen(stream) == 26
    redis_client.unlink(stream)


def test_enqueue_then_query(cluster: Cluster, tiny_session: Any) -> None:
    x = tiny_input(2, seed=77)
    uri = f"async-enq-{uuid.uuid4()}"
    entry = with_queue(cluster, cluster.tiny.stream, lambda q: q.enqueue(uri, input=x))
    assert "-" in entry
    with OutputQueue(cluster.redis_url, stream=cluster.tiny.stream) as out:
        deadline = time.monotonic() + 20
        while (r := out.query(uri)) is None:
            assert time.monotonic() < deadline, "no result"
            time.sleep(0.02)
    (direct,) = tiny_session.run(["output"], {"input": x})
    np.testing.assert_allclose(r.outputs["output"], direct, rtol=1e-5, atol=1e-6)


def test_close_fails_waiting_predicts_and_deletes_the_reply_stream(cluster: Cluster, redis_client: "redis.Redis[bytes]") -> None:
    stream = f"{cluster.prefix}-async-closing-{uuid.uuid4().hex[:6]}"

    async def main() -> Any:
        q = AsyncInputQueue(cluster.redis_url, stream=stream)
        waiting = asyncio.ensure_future(q.predict({"input": tiny_input()}, timeout=30))
        while redis_client.xlen(stream) == 0:
            await asyncio.sleep(0.01)
        await q.close()
        with pytest.raises(ClusterServingError) as waited:
            await waiting
        with pytest.raises(ClusterServingError) as after:
            await q.predict({"input": tiny_input()})
        return q.reply_stream, waited.value, after.value

    reply_stream, waited, after = asyncio.run(main())
    assert waited.code == "CS_ERR_CLOSED" and after.code == "CS_ERR_CLOSED"
    assert redis_client.exists(reply_stream) == 0
    redis_client.unlink(stream)


def test_a_cancelled_predict_frees_its_uri(cluster: Cluster) -> None:
    async def body(q: AsyncInputQueue) -> Any:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(q.predict({"input": tiny_input()}, timeout=30, uri="cancelled"), 0.2)
        return await q.predict({"input": tiny_input()}, timeout=0.5, uri="cancelled")

    stream = f"{cluster.prefix}-async-cancel-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ClusterServingTimeoutError):  # nobody serves this stream: the second predict times out, not "already waiting"
        with_queue(cluster, stream, body)


def test_a_failed_xadd_fails_that_request(cluster: Cluster, redis_client: "redis.Redis[bytes]") -> None:
    stream = f"{cluster.prefix}-async-wrongtype-{uuid.uuid4().hex[:6]}"
    redis_client.set(stream, b"not a stream")

    async def body(q: AsyncInputQueue) -> Any:
        with pytest.raises(ClusterServingError) as predicted:
            await q.predict({"input": tiny_input()}, timeout=30)
        with pytest.raises(ClusterServingError) as enqueued:
            await q.enqueue("x", input=tiny_input())
        return predicted.value, enqueued.value

    try:
        predicted, enqueued = with_queue(cluster, stream, body)
        assert predicted.code == "CS_ERR_CONNECTOR" and "WRONGTYPE" in predicted.message
        assert enqueued.code == "CS_ERR_CONNECTOR"
    finally:
        redis_client.unlink(stream)


def test_wait_ready(cluster: Cluster) -> None:
    async def ready(q: AsyncInputQueue) -> Any:
        await q.wait_ready(timeout=60)
        return await q.predict({"input": tiny_input()}, timeout=30)

    assert with_queue(cluster, cluster.tiny.stream, ready)["output"].shape == (1, 8)

    async def never(q: AsyncInputQueue) -> None:
        await q.wait_ready(timeout=0.3)

    with pytest.raises(ClusterServingTimeoutError):
        with_queue(cluster, f"{cluster.prefix}-nobody-{uuid.uuid4().hex[:6]}", never)

"""The asyncio input queue: ``await predict(...)`` from as many tasks as you like, pipelined on one connection."""

from __future__ import annotations

import asyncio
import logging
import math
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union

import numpy as np
import redis
import redis.asyncio
from numpy.typing import ArrayLike

from . import _resp
from ._connection import connection_kwargs
from ._queue_base import QueueBase, check_timeout, check_unique, merge_inputs, raise_first_error, timed_out_result, timeout_error
from ._outage import ENQUEUE_TIMEOUT, OutageLog, backoff, certificate_failure, is_certificate_error, is_transient
from ._readiness import POLL_INTERVAL, not_ready_error, verdict
from ._writer import MAX_BATCH
from .codec import Result
from .errors import ClusterServingError
from .keys import ready_key

log = logging.getLogger("cluster_serving")

#: A queued command: its packed chunks and who gets its reply: a predict's uri (only an error matters: it
#: fails that predict), an enqueue's future (the entry id), or None (nobody: errors are logged).
_Command = Tuple[Sequence[bytes], "Union[str, asyncio.Future[Any], None]"]


class AsyncInputQueue(QueueBase):
    """:class:`InputQueue` for asyncio (``redis.asyncio``): ``await q.predict(...)``, ``await q.enqueue(...)``.

    Every request written while the previous write's replies were being read goes out in one write, on one
    connection; one task reads this queue's reply stream with a blocking ``XREAD`` and completes the waiting
    predicts. ``asyncio.gather`` of thousands of predicts is the intended use; ``predict_many`` does the same
    for a list. ``timeout`` is a real deadline: ``CS_ERR_TIMEOUT`` (a ``TimeoutError`` too) when no result
    arrived by then. Use the queue from one event loop; close it with ``await q.close()`` or ``async with``.

    Example::

        async with AsyncInputQueue("redis://127.0.0.1:6379", stream="tiny") as q:
            outs = await asyncio.gather(*(q.predict({"input": x}, timeout=5) for x in xs))

    The arguments are :class:`InputQueue`'s; ``ssl_options`` are ``redis.asyncio.SSLConnection`` arguments.
    """

    def __init__(
        self,
        redis_url: Optional[str] = None,
        *,
        stream: str,
        partitions: int = 1,
        password: Optional[str] = None,
        ssl: bool = False,
        ssl_options: Optional[Mapping[str, Any]] = None,
        redis_options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(stream, partitions)
        pool = redis.asyncio.ConnectionPool(**connection_kwargs(redis_url, password, ssl, ssl_options, redis_options, asyncio=True))
        self._pool = pool
        self._write_conn = pool.make_connection()
        self._read_conn = pool.make_connection()
        #: uri → its future and its own timer (None in a batch, which shares one).
        self._waiters: Dict[str, Tuple["asyncio.Future[Result]", Optional[asyncio.TimerHandle]]] = {}
        self._queue: List[_Command] = []
        self._writer: Optional["asyncio.Task[None]"] = None
        self._reader: Optional["asyncio.Task[None]"] = None
        self._last_id = b"0-0"
        self._closed = False
        self._write_outage = OutageLog(f"cluster-serving-writer-{stream}")
        self._read_outage = OutageLog(f"cluster-serving-replies-{stream}")

    async def enqueue(self, uri: str, inputs: Optional[Mapping[str, ArrayLike]] = None, /, **named: ArrayLike) -> str:
        """Writes one request and returns its stream entry id; the result is read with ``OutputQueue``."""
        self._check_open()
        command = self._xadd(uri, merge_inputs(inputs, named), reply=False)
        loop = asyncio.get_running_loop()
        sent: "asyncio.Future[Any]" = loop.create_future()
        # While Redis is away the XADD is sent again, until this timer gives up on it.
        timer = loop.call_later(
            ENQUEUE_TIMEOUT, lambda: sent.done() or sent.set_exception(ClusterServingError("CS_ERR_TIMEOUT", f"Redis did not take request {uri} within {ENQUEUE_TIMEOUT:g} s", uri=uri))
        )
        self._submit([(command, sent)])
        try:
            entry_id = await sent
        except redis.RedisError as err:
            if is_certificate_error(err):
                raise certificate_failure(err, uri) from err
            raise ClusterServingError("CS_ERR_CONNECTOR", f"could not write request {uri}: {err}", uri=uri) from err
        finally:
            timer.cancel()
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def predict(self, inputs: Mapping[str, ArrayLike], timeout: float = 10.0, *, uri: Optional[str] = None) -> Dict[str, np.ndarray]:
        """Sends a request and returns its outputs by name; raises the result's error, or ``CS_ERR_TIMEOUT``."""
        return (await self.predict_result(inputs, timeout, uri=uri)).raise_for_error()

    async def predict_result(self, inputs: Mapping[str, ArrayLike], timeout: float = 10.0, *, uri: Optional[str] = None) -> Result:
        """Like :meth:`predict`, but returns the whole result (outputs or error) instead of raising on an error."""
        check_timeout(timeout)
        uri = self._new_uri() if uri is None else uri
        (future,) = self._send([uri], [inputs], timeout)
        try:
            return await future
        except asyncio.CancelledError:
            self._forget(uri, future)
            raise

    async def predict_many(self, batch: Sequence[Mapping[str, ArrayLike]], timeout: float = 10.0) -> List[Dict[str, np.ndarray]]:
        """Sends every request of ``batch`` at once and returns their outputs in order; ``timeout`` is the
        deadline of the whole batch. Raises the first error result (in order), or ``CS_ERR_TIMEOUT``."""
        return raise_first_error(await self._predict_many(batch, timeout, timeouts_raise=True))

    async def predict_many_results(self, batch: Sequence[Mapping[str, ArrayLike]], timeout: float = 10.0) -> List[Result]:
        """Like :meth:`predict_many`, but returns every result, a ``CS_ERR_TIMEOUT`` error result for each
        request that had none by the deadline."""
        return await self._predict_many(batch, timeout, timeouts_raise=False)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """:meth:`InputQueue.wait_ready` for asyncio."""
        check_timeout(timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        client = redis.asyncio.Redis(connection_pool=self._pool)
        waiting = "no answer from Redis"
        try:
            while True:
                try:
                    ready, failure, waiting = verdict(self.stream, await client.hgetall(ready_key(self.stream)))
                    if ready:
                        return
                    if failure is not None:
                        raise failure
                except ClusterServingError:
                    raise
                except Exception as err:  # noqa: BLE001 - only outages are waited out
                    if not is_transient(err):
                        raise
                    waiting = f"Redis is not reachable: {err}"
                left = deadline - loop.time()
                if left <= 0:
                    raise not_ready_error(self.stream, timeout, waiting)
                await asyncio.sleep(min(POLL_INTERVAL, left))
        finally:
            await client.aclose(close_connection_pool=False)

    async def close(self) -> None:
        """Fails predicts still waiting with ``CS_ERR_CLOSED``, deletes the reply stream, closes connections."""
        if self._closed:
            return
        self._closed = True
        waiters = list(self._waiters.items())
        self._waiters.clear()
        for uri, (future, timer) in waiters:
            if timer is not None:
                timer.cancel()
            if not future.done():
                future.set_exception(ClusterServingError("CS_ERR_CLOSED", "AsyncInputQueue closed while waiting", uri=uri))
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self._queue.append(((_resp.unlink([self._reply_key]),), None))
        self._start_writer()
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        await self._read_conn.disconnect()
        await self._write_conn.disconnect()
        await self._pool.disconnect()  # what wait_ready used

    async def __aenter__(self) -> "AsyncInputQueue":
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.close()

    # internals

    def _check_open(self) -> None:
        if self._closed:
            raise ClusterServingError("CS_ERR_CLOSED", "AsyncInputQueue is closed")

    def _send(self, uris: Sequence[str], batch: Sequence[Mapping[str, ArrayLike]], timeout: float) -> List["asyncio.Future[Result]"]:
        """Registers a future per uri (completed by the reader, or at the deadline) and queues the XADDs.

        One request gets a timer of its own; a batch shares one (a timer per request costs more than its XADD).
        """
        self._check_open()
        commands = [self._xadd(uri, inputs, reply=True) for uri, inputs in zip(uris, batch)]
        waiters = self._waiters
        if len(uris) == 1:
            if uris[0] in waiters:
                raise ClusterServingError("CS_ERR_BAD_REQUEST", f"a predict for uri {uris[0]} is already waiting", uri=uris[0])
        else:
            check_unique(uris, waiters)
        loop = asyncio.get_running_loop()
        futures: List["asyncio.Future[Result]"] = []
        if len(uris) == 1:
            future: "asyncio.Future[Result]" = loop.create_future()
            waiters[uris[0]] = (future, loop.call_later(timeout, self._expire, uris, [future], timeout))
            futures.append(future)
        else:
            # The batch's timer is left to run out: at the deadline it finds the futures done.
            loop.call_later(timeout, self._expire, uris, futures, timeout)
            for uri in uris:
                future = loop.create_future()
                waiters[uri] = (future, None)
                futures.append(future)
        self._submit([(command, uri) for uri, command in zip(uris, commands)])
        if self._reader is None:
            self._reader = loop.create_task(self._read_loop())
        return futures

    def _submit(self, commands: Sequence[_Command]) -> None:
        self._queue.extend(commands)
        self._start_writer()

    def _start_writer(self) -> None:
        if self._writer is None and self._queue:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def _settle(self, uri: str, future: "asyncio.Future[Result]", result: Optional[Result], error: Optional[BaseException]) -> None:
        entry = self._waiters.get(uri)
        if entry is None or entry[0] is not future:
            return
        del self._waiters[uri]
        if entry[1] is not None:
            entry[1].cancel()
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

    def _expire(self, uris: Sequence[str], futures: Sequence["asyncio.Future[Result]"], timeout: float) -> None:
        for uri, future in zip(uris, futures):
            if not future.done():
                self._settle(uri, future, None, timeout_error(uri, timeout))

    def _forget(self, uri: str, future: "asyncio.Future[Result]") -> None:
        entry = self._waiters.get(uri)
        if entry is not None and entry[0] is future:
            del self._waiters[uri]
            if entry[1] is not None:
                entry[1].cancel()

    async def _predict_many(self, batch: Sequence[Mapping[str, ArrayLike]], timeout: float, timeouts_raise: bool) -> List[Result]:
        check_timeout(timeout)
        if not batch:
            return []
        uris = [self._new_uri() for _ in batch]
        futures = self._send(uris, batch, timeout)
        try:
            done = await asyncio.gather(*futures, return_exceptions=True)
        except asyncio.CancelledError:
            for uri, future in zip(uris, futures):
                self._forget(uri, future)
            raise
        results: List[Result] = []
        for uri, outcome in zip(uris, done):
            if isinstance(outcome, Result):
                results.append(outcome)
            elif isinstance(outcome, ClusterServingError) and outcome.code == "CS_ERR_TIMEOUT" and not timeouts_raise:
                results.append(timed_out_result(uri, timeout))
            else:
                raise outcome
        return results

    async def _write_loop(self) -> None:
        """Writes what is queued, then reads its replies in order; again while more was queued meanwhile."""
        conn = self._write_conn
        failures = 0
        try:
            while self._queue:
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
                chunks: List[bytes] = []
                for parts, _ in batch:
                    chunks.extend(parts)
                replies: List[Tuple[Any, Optional[BaseException]]] = []
                try:
                    await conn.send_packed_command(_resp.join_commands(chunks))
                    # The first reply is awaited under the connection's socket_timeout; the others come with
                    # it, and redis.asyncio would start (and cancel) a timer for each.
                    read_timeout: Optional[float] = None
                    for _ in batch:
                        try:
                            replies.append((await conn.read_response(timeout=read_timeout), None))
                        except redis.ResponseError as err:  # an error reply: the connection is still in step
                            replies.append((None, err))
                        read_timeout = math.inf
                except Exception as err:  # noqa: BLE001 - a connection failure: what was not answered is sent again or fails
                    await conn.disconnect(nowait=True)
                    unanswered = batch[len(replies):]
                    again = [c for c in unanswered if self._still_wanted(c[1])] if is_transient(err) and not self._closed else []
                    if again:
                        # Redis away: send again after a backoff, while each request's deadline allows.
                        self._write_outage.down(err)
                        self._queue[:0] = again
                        await asyncio.sleep(backoff(failures))
                        failures += 1
                    retried = {id(c) for c in again}
                    batch = batch[: len(replies)] + [c for c in unanswered if id(c) not in retried]
                    replies.extend([(None, err)] * (len(batch) - len(replies)))
                else:
                    failures = 0
                    self._write_outage.up()
                for (_, to), (reply, error) in zip(batch, replies):
                    self._deliver(to, reply, error)
        finally:
            self._writer = None

    def _still_wanted(self, to: "Union[str, asyncio.Future[Any], None]") -> bool:
        """Whether a command is still awaited (its predict or enqueue not past its deadline)."""
        if isinstance(to, str):
            return to in self._waiters
        return to is not None and not to.done()

    def _deliver(self, to: "Union[str, asyncio.Future[Any], None]", reply: Any, error: Optional[BaseException]) -> None:
        """A command's reply to whoever waits for it."""
        if isinstance(to, str):
            if error is not None:
                entry = self._waiters.get(to)
                if entry is not None:
                    failure = certificate_failure(error, to) if is_certificate_error(error) else ClusterServingError("CS_ERR_CONNECTOR", f"could not write request {to}: {error}", uri=to)
                    self._settle(to, entry[0], None, failure)
        elif to is None:
            if error is not None:
                (log.debug if is_transient(error) else log.warning)("cluster_serving: %s", error)
        elif not to.done():
            if error is not None:
                to.set_exception(error)
            else:
                to.set_result(reply)

    async def _read_loop(self) -> None:
        """Blocking XREADs on the reply stream while any predict waits (and one empty wait after the last)."""
        conn = self._read_conn
        idle = False
        failures = 0
        try:
            while not self._closed and (self._waiters or not idle):
                try:
                    await conn.send_packed_command([self._xread(self._last_id)])
                    reply = await conn.read_response()
                    failures = 0
                    self._read_outage.up()
                except asyncio.CancelledError:
                    await conn.disconnect(nowait=True)
                    raise
                except Exception as err:  # noqa: BLE001 - Redis away is waited out; any other failure fails every waiting predict
                    await conn.disconnect(nowait=True)
                    if is_transient(err) and not self._closed:
                        self._read_outage.down(err)
                        await asyncio.sleep(backoff(failures))
                        failures += 1
                        continue
                    for uri, (future, _) in list(self._waiters.items()):
                        failure = certificate_failure(err, uri) if is_certificate_error(err) else ClusterServingError("CS_ERR_CONNECTOR", f"reading replies from {self._reply_key} failed: {err}", uri=uri)
                        self._settle(uri, future, None, failure)
                    return
                results, last = self._decode_replies(reply)
                idle = last is None
                if last is None:
                    continue
                self._last_id = last
                waiters = self._waiters
                for r in results:
                    entry = waiters.pop(r.uri, None)
                    if entry is not None:
                        if entry[1] is not None:
                            entry[1].cancel()
                        if not entry[0].done():
                            entry[0].set_result(r)
                self._submit([((c,), None) for c in self._cleanup(results, last)])
        finally:
            self._reader = None
            # A predict that registered while this task was finishing needs a reader.
            if not self._closed and self._waiters:
                self._reader = asyncio.get_running_loop().create_task(self._read_loop())


"""Sends requests to a serving job: ``enqueue`` (fire and forget) and ``predict`` (wait for the result)."""

from __future__ import annotations

import threading
import time
from functools import partial
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type

import numpy as np
import redis
from numpy.typing import ArrayLike

from . import _resp
from ._connection import connection_kwargs
from ._queue_base import QueueBase, check_timeout, check_unique, log, merge_inputs, raise_first_error, timed_out_result, timeout_error
from ._outage import ENQUEUE_TIMEOUT, OutageLog, backoff, certificate_failure, is_certificate_error, is_transient
from ._readiness import POLL_INTERVAL, not_ready_error, verdict
from ._writer import PipelinedWriter
from .codec import Result
from .errors import ClusterServingError
from .keys import ready_key


class _Waiter:
    """One request's result: a lock held until the result (or an error) is in place."""

    __slots__ = ("lock", "result", "error")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.result: Optional[Result] = None
        self.error: Optional[BaseException] = None

    def settle(self, result: Optional[Result], error: Optional[BaseException]) -> None:
        """Called once, by whoever took the waiter out of the queue's table."""
        self.result = result
        self.error = error
        self.lock.release()


class InputQueue(QueueBase):
    """Sends requests to the job reading ``stream`` (the topology's ``source.stream``, or its ``name``).

    ``enqueue`` writes one request and returns its stream entry id (read its result with :class:`OutputQueue`).
    ``predict`` waits for its own result: the server also pushes every result onto this queue's reply
    stream ``<stream>:reply:<uuid4>``, which one blocking ``XREAD`` on a background thread reads for all
    predicts in flight (no polling). Requests are pipelined: one writer thread sends everything the calling
    threads queued while its previous round trip was in flight in one write. ``predict`` may be called from
    many threads at once; ``predict_many`` sends a whole list from one thread.

    Example::

        with InputQueue(redis_url="redis://127.0.0.1:6379", stream="tiny") as q:
            out = q.predict({"input": np.zeros((1, 16), np.float32)}, timeout=2.0)
            out["output"]  # numpy array, shape (1, 8)

    ``partitions`` must be the topology's ``source.partitions``: a request goes to split
    ``partition_of(uri, partitions)``. ``password`` and ``ssl``/``ssl_options`` (``redis.SSLConnection``
    keyword arguments such as ``ssl_ca_certs``) win over the URL's; ``rediss://`` URLs use TLS as well.
    ``redis_options`` are further ``redis.ConnectionPool`` keyword arguments. The default URL is
    ``$CS_REDIS_URL`` or ``redis://127.0.0.1:6379``.
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
        pool = redis.ConnectionPool(**connection_kwargs(redis_url, password, ssl, ssl_options, redis_options))
        self._writer = PipelinedWriter(pool.make_connection(), f"cluster-serving-writer-{stream}")
        # The reader's connection blocks in XREAD; close() disconnects it to end that read at once.
        self._reader_conn = pool.make_connection()
        self._pool = pool
        self._lock = threading.Lock()
        self._waiters: Dict[str, _Waiter] = {}
        self._last_id = b"0-0"
        self._reader: Optional[threading.Thread] = None
        self._closed = False
        self._read_outage = OutageLog(f"cluster-serving-replies-{stream}")

    def enqueue(self, uri: str, inputs: Optional[Mapping[str, ArrayLike]] = None, /, **named: ArrayLike) -> str:
        """Writes one request and returns its stream entry id; the result is read with ``OutputQueue``. A Redis
        that is away (restarting, loading) is waited for up to 10 s.

        Inputs are a mapping, keyword arguments, or both: ``q.enqueue("req-1", input=x)``. Their order is the
        order the model receives them in when names do not match the model's.
        """
        self._check_open()
        command = self._xadd(uri, merge_inputs(inputs, named), reply=False)
        ack = _Waiter()
        entry: List[Any] = []

        def sent(reply: Any, error: Optional[BaseException]) -> None:
            entry.append(reply)
            ack.settle(None, error)

        if not self._writer.submit([(command, sent)], deadline=time.monotonic() + ENQUEUE_TIMEOUT):
            raise ClusterServingError("CS_ERR_CLOSED", "InputQueue is closed", uri=uri)
        ack.lock.acquire()
        if ack.error is not None:
            if is_certificate_error(ack.error):
                raise certificate_failure(ack.error, uri) from ack.error
            raise ClusterServingError("CS_ERR_CONNECTOR", f"could not write request {uri}: {ack.error}", uri=uri) from ack.error
        entry_id = entry[0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def predict(
        self, inputs: Mapping[str, ArrayLike], timeout: float = 10.0, *, uri: Optional[str] = None
    ) -> Dict[str, np.ndarray]:
        """Sends a request and returns its outputs by name.

        Raises :class:`ClusterServingError` with the server's code for an error result, and with
        ``CS_ERR_TIMEOUT`` (a ``TimeoutError`` too) when no result arrived within ``timeout`` seconds.
        """
        return self.predict_result(inputs, timeout, uri=uri).raise_for_error()

    def predict_result(self, inputs: Mapping[str, ArrayLike], timeout: float = 10.0, *, uri: Optional[str] = None) -> Result:
        """Like :meth:`predict`, but returns the whole result (outputs or error) instead of raising on an error."""
        check_timeout(timeout)
        deadline = time.monotonic() + timeout
        uri = self._new_uri() if uri is None else uri
        (waiter,) = self._send([uri], [inputs], deadline)
        result = self._wait(uri, waiter, deadline)
        if result is None:
            raise timeout_error(uri, timeout)
        return result

    def predict_many(self, batch: Sequence[Mapping[str, ArrayLike]], timeout: float = 10.0) -> List[Dict[str, np.ndarray]]:
        """Sends every request of ``batch`` at once and returns their outputs, in order.

        ``timeout`` is the deadline of the whole batch. The first error result (in order) is raised, after
        every request has its result; ``CS_ERR_TIMEOUT`` when one has none at the deadline.
        """
        return raise_first_error(self._predict_many(batch, timeout, timeouts_raise=True))

    def predict_many_results(self, batch: Sequence[Mapping[str, ArrayLike]], timeout: float = 10.0) -> List[Result]:
        """Like :meth:`predict_many`, but returns every result: error results, and a ``CS_ERR_TIMEOUT`` error
        result for each request that had none by the deadline."""
        return self._predict_many(batch, timeout, timeouts_raise=False)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Returns once the job reading this stream serves (every subtask has its model loaded and reads its
        splits), as its JobManager records in ``<stream>:ready``. Raises the job's failure (its code) when it
        failed, ``CS_ERR_CLOSED`` when it was canceled, and ``CS_ERR_TIMEOUT`` (saying what it still waits for)
        after ``timeout`` seconds; a Redis that is away is waited out."""
        check_timeout(timeout)
        deadline = time.monotonic() + timeout
        client = redis.Redis(connection_pool=self._pool)
        waiting = "no answer from Redis"
        while True:
            try:
                ready, failure, waiting = verdict(self.stream, client.hgetall(ready_key(self.stream)))
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
            left = deadline - time.monotonic()
            if left <= 0:
                raise not_ready_error(self.stream, timeout, waiting)
            time.sleep(min(POLL_INTERVAL, left))

    def close(self) -> None:
        """Fails predicts still waiting with ``CS_ERR_CLOSED``, deletes the reply stream, closes connections."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiters = list(self._waiters.items())
            self._waiters.clear()
            reader = self._reader
        for uri, w in waiters:
            w.settle(None, ClusterServingError("CS_ERR_CLOSED", "InputQueue closed while waiting", uri=uri))
        if reader is not None:
            self._reader_conn.disconnect()  # ends the blocking XREAD now
            reader.join(timeout=2.0)
        self._writer.submit([(( _resp.unlink([self._reply_key]),), None)])
        self._writer.close()
        self._reader_conn.disconnect()
        self._pool.disconnect()

    def __enter__(self) -> "InputQueue":
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    # internals

    def _check_open(self) -> None:
        if self._closed:
            raise ClusterServingError("CS_ERR_CLOSED", "InputQueue is closed")

    def _send(self, uris: Sequence[str], batch: Sequence[Mapping[str, ArrayLike]], deadline: float) -> List[_Waiter]:
        """Registers a waiter per uri and queues the requests' XADDs (all encoded before any is sent), sent
        again while Redis is away until ``deadline``."""
        commands = [(self._xadd(uri, inputs, reply=True), partial(self._sent, uri)) for uri, inputs in zip(uris, batch)]
        waiters = [_Waiter() for _ in uris]
        with self._lock:
            if self._closed:
                raise ClusterServingError("CS_ERR_CLOSED", "InputQueue is closed", uri=uris[0] if uris else None)
            table = self._waiters
            if len(uris) == 1:
                if uris[0] in table:
                    raise ClusterServingError("CS_ERR_BAD_REQUEST", f"a predict for uri {uris[0]} is already waiting", uri=uris[0])
            else:
                check_unique(uris, table)
            for uri, w in zip(uris, waiters):
                table[uri] = w
            if self._reader is None:
                self._reader = threading.Thread(target=self._read_loop, name=f"cluster-serving-replies-{self.stream}", daemon=True)
                self._reader.start()
        if not self._writer.submit(commands, deadline=deadline):
            for uri in uris:
                self._fail(uri, ClusterServingError("CS_ERR_CLOSED", "InputQueue is closed", uri=uri))
        return waiters

    def _sent(self, uri: str, _reply: Any, error: Optional[BaseException]) -> None:
        if error is not None:
            failure = certificate_failure(error, uri) if is_certificate_error(error) else ClusterServingError("CS_ERR_CONNECTOR", f"could not write request {uri}: {error}", uri=uri)
            self._fail(uri, failure)

    def _fail(self, uri: str, error: BaseException) -> None:
        with self._lock:
            w = self._waiters.pop(uri, None)
        if w is not None:
            w.settle(None, error)

    def _wait(self, uri: str, waiter: _Waiter, deadline: float) -> Optional[Result]:
        """The waiter's result; None at the deadline (the waiter then leaves the table)."""
        if not waiter.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            with self._lock:
                mine = self._waiters.get(uri) is waiter
                if mine:
                    del self._waiters[uri]
            if mine:
                return None
            waiter.lock.acquire()  # settled just now by another thread
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    def _predict_many(self, batch: Sequence[Mapping[str, ArrayLike]], timeout: float, timeouts_raise: bool) -> List[Result]:
        check_timeout(timeout)
        deadline = time.monotonic() + timeout
        if not batch:
            return []
        uris = [self._new_uri() for _ in batch]
        waiters = self._send(uris, batch, deadline)
        results: List[Result] = []
        for uri, w in zip(uris, waiters):
            r = self._wait(uri, w, deadline)
            if r is None:
                if timeouts_raise:
                    for u, other in zip(uris, waiters):  # the others stop waiting too
                        self._fail(u, timeout_error(u, timeout))
                    raise timeout_error(uri, timeout)
                r = timed_out_result(uri, timeout)
            results.append(r)
        return results

    def _read_loop(self) -> None:
        """Blocking XREADs on the reply stream while any predict waits (and one empty wait after the last)."""
        me = threading.current_thread()
        conn = self._reader_conn
        idle = False
        failures = 0
        try:
            while True:
                with self._lock:
                    if self._closed or (idle and not self._waiters):
                        return
                    last_id = self._last_id
                try:
                    conn.send_packed_command([self._xread(last_id)])
                    reply = conn.read_response()
                    failures = 0
                    self._read_outage.up()
                except Exception as err:  # noqa: BLE001 - a Redis failure, or close() disconnecting this read
                    conn.disconnect()
                    with self._lock:
                        if self._closed:
                            return
                    if is_transient(err):
                        # Redis away: read again once it is back; each predict's own deadline ends its wait.
                        self._read_outage.down(err)
                        time.sleep(backoff(failures))
                        failures += 1
                        continue
                    with self._lock:
                        waiters = list(self._waiters.items())
                        self._waiters.clear()
                    for uri, w in waiters:
                        failure = certificate_failure(err, uri) if is_certificate_error(err) else ClusterServingError("CS_ERR_CONNECTOR", f"reading replies from {self._reply_key} failed: {err}", uri=uri)
                        w.settle(None, failure)
                    return
                results, last = self._decode_replies(reply)
                idle = last is None
                if last is None:
                    continue
                with self._lock:
                    self._last_id = last
                    pop = self._waiters.pop
                    ready = [(pop(r.uri, None), r) for r in results]
                for w, r in ready:
                    if w is not None:
                        w.settle(r, None)
                self._writer.submit([((c,), None) for c in self._cleanup(results, last)])
        finally:
            with self._lock:
                if self._reader is me:
                    self._reader = None
                # A predict that registered while this thread was finishing needs a reader.
                if not self._closed and self._waiters and self._reader is None:
                    self._reader = threading.Thread(target=self._read_loop, name=me.name, daemon=True)
                    self._reader.start()

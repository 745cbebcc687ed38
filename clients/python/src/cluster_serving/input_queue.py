"""Sends requests to a serving job: ``enqueue`` (fire and forget) and ``predict`` (wait for the result)."""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type

import numpy as np
import redis
from numpy.typing import ArrayLike

from ._connection import connection_kwargs, make_client
from .codec import Result, decode_result, encode_request
from .errors import ClusterServingError
from .keys import partition_of, result_key, split_stream_key

log = logging.getLogger("cluster_serving")

#: How long one blocking XREAD waits before the reader checks whether anyone still waits (ms). A reply
#: wakes it at once; this only bounds how long an idle reader lingers after the last predict gave up.
_READ_BLOCK_MS = 1000


class _Waiter:
    __slots__ = ("event", "result", "error")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.result: Optional[Result] = None
        self.error: Optional[BaseException] = None

    def settle(self, result: Optional[Result] = None, error: Optional[BaseException] = None) -> None:
        if self.event.is_set():
            return
        self.result = result
        self.error = error
        self.event.set()


def _merge_inputs(inputs: Optional[Mapping[str, ArrayLike]], named: Mapping[str, ArrayLike]) -> Dict[str, ArrayLike]:
    merged: Dict[str, ArrayLike] = dict(inputs) if inputs is not None else {}
    for name, value in named.items():
        if name in merged:
            raise ClusterServingError("CS_ERR_BAD_REQUEST", f"input {name} given twice")
        merged[name] = value
    return merged


def _next_id(entry_id: bytes) -> str:
    """The stream id just after ``entry_id`` (XTRIM MINID keeps ids >= the given one)."""
    ms, _, seq = entry_id.decode().partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


class InputQueue:
    """Sends requests to the job reading ``stream`` (the topology's ``source.stream``, or its ``name``).

    ``enqueue`` writes one request and returns at once (read its result with :class:`OutputQueue`).
    ``predict`` waits for its own result: the server also pushes every result onto this queue's reply
    stream ``<stream>:reply:<uuid4>``, which one blocking ``XREAD`` on a background thread reads for all
    predicts in flight (no polling). ``predict`` may be called from several threads at once.

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
        if not stream:
            raise ValueError("stream must be a non-empty string")
        if not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be an integer >= 1, got {partitions!r}")
        self.stream = stream
        self.partitions = partitions
        kwargs = connection_kwargs(redis_url, password, ssl, ssl_options, redis_options)
        self._redis = make_client(kwargs)
        # The reader's connection blocks in XREAD; close() disconnects it to end that read at once, which
        # must not be retried.
        self._reader = make_client({**kwargs, "retry_on_timeout": False, "retry": redis.retry.Retry(redis.backoff.NoBackoff(), 0)})
        self._reply_key = f"{stream}:reply:{uuid.uuid4()}"
        self._lock = threading.Lock()
        self._waiters: Dict[str, _Waiter] = {}
        self._last_id = b"0-0"
        self._thread: Optional[threading.Thread] = None
        self._closed = False

    @property
    def reply_stream(self) -> str:
        """This queue's reply stream key."""
        return self._reply_key

    def stream_for(self, uri: str) -> str:
        """The split stream key a request for ``uri`` goes to."""
        return split_stream_key(self.stream, self.partitions, partition_of(uri, self.partitions))

    def enqueue(self, uri: str, inputs: Optional[Mapping[str, ArrayLike]] = None, /, **named: ArrayLike) -> str:
        """Writes one request and returns its stream entry id; the result is read with ``OutputQueue``.

        Inputs are a mapping, keyword arguments, or both: ``q.enqueue("req-1", input=x)``. Their order is the
        order the model receives them in when names do not match the model's.
        """
        self._check_open()
        data = encode_request(_merge_inputs(inputs, named))
        return self._send(uri, data)

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
        if not isinstance(timeout, (int, float)) or not timeout > 0 or math.isinf(timeout):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        deadline = time.monotonic() + timeout
        uri = str(uuid.uuid4()) if uri is None else uri
        data = encode_request(inputs, reply_to=self._reply_key)
        waiter = _Waiter()
        with self._lock:
            if self._closed:
                raise ClusterServingError("CS_ERR_CLOSED", "InputQueue is closed", uri=uri)
            if uri in self._waiters:
                raise ClusterServingError("CS_ERR_BAD_REQUEST", f"a predict for uri {uri} is already waiting", uri=uri)
            self._waiters[uri] = waiter
            self._start_reader()
        try:
            self._send(uri, data)
            if not waiter.event.wait(max(0.0, deadline - time.monotonic())):
                raise ClusterServingError("CS_ERR_TIMEOUT", f"no result for {uri} within {timeout:g} s", uri=uri)
        finally:
            with self._lock:
                if self._waiters.get(uri) is waiter:
                    del self._waiters[uri]
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None
        return waiter.result

    def close(self) -> None:
        """Fails predicts still waiting with ``CS_ERR_CLOSED``, deletes the reply stream, closes connections."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiters = list(self._waiters.items())
            thread = self._thread
        for uri, w in waiters:
            w.settle(error=ClusterServingError("CS_ERR_CLOSED", "InputQueue closed while waiting", uri=uri))
        if thread is not None:
            self._reader.connection_pool.disconnect()  # ends the blocking XREAD now
            thread.join(timeout=2.0)
        try:
            self._redis.unlink(self._reply_key)
        except redis.RedisError as err:
            log.warning("could not delete reply stream %s: %s", self._reply_key, err)
        self._reader.close()
        self._redis.close()

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

    def _send(self, uri: str, data: bytes) -> str:
        try:
            entry_id = self._redis.xadd(self.stream_for(uri), {"uri": uri, "data": data})
        except redis.RedisError as err:
            raise ClusterServingError("CS_ERR_CONNECTOR", f"could not write request {uri}: {err}", uri=uri) from err
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def _pending(self) -> bool:
        """Whether a predict still waits for its reply (call with the lock held)."""
        return any(not w.event.is_set() for w in self._waiters.values())

    def _start_reader(self) -> None:
        """Starts the reply reader unless it runs (call with the lock held)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._read_loop, name=f"cluster-serving-replies-{self.stream}", daemon=True)
            self._thread.start()

    def _read_loop(self) -> None:
        """One blocking XREAD at a time on the reply stream, while any predict waits."""
        me = threading.current_thread()
        try:
            while True:
                with self._lock:
                    if self._closed or not self._pending():
                        return
                    last_id = self._last_id
                try:
                    reply = self._reader.xread({self._reply_key: last_id}, count=1000, block=_READ_BLOCK_MS)
                except Exception as err:  # a Redis failure, or close() disconnecting this read
                    with self._lock:
                        if self._closed:
                            return
                        waiters = list(self._waiters.items())
                    for uri, w in waiters:
                        w.settle(error=ClusterServingError("CS_ERR_CONNECTOR", f"reading replies from {self._reply_key} failed: {err}", uri=uri))
                    return
                if reply:
                    self._deliver(reply)
        finally:
            with self._lock:
                if self._thread is me:
                    self._thread = None
                # A predict that registered while this thread was finishing needs a reader.
                if not self._closed and self._pending() and self._thread is None:
                    self._start_reader()

    def _deliver(self, reply: Any) -> None:
        items: List[Tuple[Any, Any]] = list(reply.items()) if isinstance(reply, dict) else list(reply)
        results: List[Result] = []
        last: Optional[bytes] = None
        for _key, entries in items:
            # RESP3 nests the entries one level deeper.
            if entries and isinstance(entries[0], list) and entries[0] and isinstance(entries[0][0], (list, tuple)):
                entries = entries[0]
            for entry_id, fields in entries:
                last = entry_id if isinstance(entry_id, bytes) else str(entry_id).encode()
                data = fields.get(b"data") if fields else None
                if data is None:
                    continue
                try:
                    results.append(decode_result(data))
                except Exception as err:  # noqa: BLE001 - one bad entry must not stop the reader
                    log.warning("skipping undecodable reply %s on %s: %s", entry_id, self._reply_key, err)
        if last is None:
            return
        with self._lock:
            self._last_id = last
            ready = [(self._waiters.get(r.uri), r) for r in results]
        for w, r in ready:
            if w is not None:
                w.settle(result=r)
        # The reply carried the result: drop the stored copy and the entries read.
        try:
            pipe = self._redis.pipeline(transaction=False)
            if results:
                pipe.unlink(*[result_key(self.stream, r.uri) for r in results])
            pipe.xtrim(self._reply_key, minid=_next_id(last), approximate=False)
            pipe.execute()
        except redis.RedisError as err:
            log.warning("could not clean up after replies on %s: %s", self._reply_key, err)

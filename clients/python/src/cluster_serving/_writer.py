"""One connection, one thread, many commands per round trip: the sync client's pipelined writer."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple

import redis

from ._outage import OutageLog, backoff, is_transient
from ._resp import join_commands

log = logging.getLogger("cluster_serving")

#: Called with the command's reply, or with the error it got (a Redis error reply or a connection failure).
OnReply = Callable[[Any, Optional[BaseException]], None]
Command = Tuple[Sequence[bytes], Optional[OnReply]]
#: A queued command and the ``time.monotonic()`` until which it is sent again while Redis is away (None: never).
_Queued = Tuple[Sequence[bytes], Optional[OnReply], Optional[float]]

#: At most this many commands per round trip (bounds the replies one round waits for).
MAX_BATCH = 1024


class PipelinedWriter:
    """Sends the commands any thread queues, in order, on one connection: everything queued while the previous
    round trip was in flight goes out in the next one (one write, then its replies read in order).

    A command's ``on_reply`` runs on the writer thread; it must be quick and must not raise. A connection
    failure (Redis restarting, ``LOADING``, refused) sends the round's unanswered commands again on a new
    connection, after a backoff, until each one's deadline; past it (or without one) the command fails. A
    command whose reply was lost may so reach Redis twice (at-least-once).
    """

    def __init__(self, connection: "redis.connection.Connection", name: str) -> None:
        self._conn = connection
        self._name = name
        self._lock = threading.Lock()
        self._queue: List[_Queued] = []
        self._outage = OutageLog(name)
        self._failures = 0
        self._wake = threading.Lock()
        self._wake.acquire()
        self._sleeping = False
        self._closed = False
        self._thread: Optional[threading.Thread] = None

    def submit(self, commands: Sequence[Command], deadline: Optional[float] = None) -> bool:
        """Queues commands (each: its packed chunks and what to call with the reply), sent again while Redis is
        away until ``deadline`` (``time.monotonic()``); False once closed."""
        with self._lock:
            if self._closed:
                return False
            self._queue.extend((parts, on_reply, deadline) for parts, on_reply in commands)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
                return True
            if not self._sleeping:
                return True
            self._sleeping = False
        self._wake.release()
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Sends what is queued, then stops the thread and closes the connection."""
        with self._lock:
            self._closed = True
            thread = self._thread
            wake = self._sleeping
            self._sleeping = False
        if wake:
            self._wake.release()
        if thread is not None:
            thread.join(timeout)
        self._conn.disconnect()

    def _run(self) -> None:
        while True:
            with self._lock:
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
                if not batch:
                    if self._closed:
                        return
                    self._sleeping = True
            if batch:
                self._round_trip(batch)
            else:
                self._wake.acquire()

    def _round_trip(self, batch: List[_Queued]) -> None:
        chunks: List[bytes] = []
        for parts, _, _ in batch:
            chunks.extend(parts)
        replies: List[Tuple[Any, Optional[BaseException]]] = []
        try:
            self._conn.send_packed_command(join_commands(chunks))
            for _ in batch:
                try:
                    replies.append((self._conn.read_response(), None))
                except redis.ResponseError as err:  # an error reply: the connection is still in step
                    replies.append((None, err))
        except Exception as err:  # noqa: BLE001 - a connection failure: what was not answered is sent again or fails
            self._conn.disconnect()
            unanswered = batch[len(replies):]
            now = time.monotonic()
            again = [c for c in unanswered if c[2] is not None and now < c[2] and is_transient(err) and not self._closed]
            if again:
                self._outage.down(err)
                with self._lock:
                    self._queue[:0] = again
                time.sleep(backoff(self._failures))
                self._failures += 1
            retried = {id(c) for c in again}
            batch = batch[: len(replies)] + [c for c in unanswered if id(c) not in retried]
            replies.extend([(None, err)] * (len(batch) - len(replies)))
        else:
            self._failures = 0
            self._outage.up()
        for (_, on_reply, _), (reply, error) in zip(batch, replies):
            if on_reply is None:
                if error is not None:
                    # Clean-up commands lost to an outage are logged with it, not one by one.
                    (log.debug if is_transient(error) else log.warning)("%s: %s", self._name, error)
                continue
            try:
                on_reply(reply, error)
            except Exception:  # noqa: BLE001 - one caller's bug must not stop the writer
                log.exception("%s: reply handler failed", self._name)

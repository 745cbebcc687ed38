"""One connection, one thread, many commands per round trip: the sync client's pipelined writer."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, List, Optional, Sequence, Tuple

import redis

from ._resp import join_commands

log = logging.getLogger("cluster_serving")

#: Called with the command's reply, or with the error it got (a Redis error reply or a connection failure).
OnReply = Callable[[Any, Optional[BaseException]], None]
Command = Tuple[Sequence[bytes], Optional[OnReply]]

#: At most this many commands per round trip (bounds the replies one round waits for).
MAX_BATCH = 1024


class PipelinedWriter:
    """Sends the commands any thread queues, in order, on one connection: everything queued while the previous
    round trip was in flight goes out in the next one (one write, then its replies read in order).

    A command's ``on_reply`` runs on the writer thread; it must be quick and must not raise. A connection
    failure fails the commands of that round (and the next round connects again): a command is never sent twice.
    """

    def __init__(self, connection: "redis.connection.Connection", name: str) -> None:
        self._conn = connection
        self._name = name
        self._lock = threading.Lock()
        self._queue: List[Command] = []
        self._wake = threading.Lock()
        self._wake.acquire()
        self._sleeping = False
        self._closed = False
        self._thread: Optional[threading.Thread] = None

    def submit(self, commands: Sequence[Command]) -> bool:
        """Queues commands (each: its packed chunks and what to call with the reply); False once closed."""
        with self._lock:
            if self._closed:
                return False
            self._queue.extend(commands)
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

    def _round_trip(self, batch: List[Command]) -> None:
        chunks: List[bytes] = []
        for parts, _ in batch:
            chunks.extend(parts)
        replies: List[Tuple[Any, Optional[BaseException]]] = []
        try:
            self._conn.send_packed_command(join_commands(chunks))
            for _ in batch:
                try:
                    replies.append((self._conn.read_response(), None))
                except redis.ResponseError as err:  # an error reply: the connection is still in step
                    replies.append((None, err))
        except Exception as err:  # noqa: BLE001 - a connection failure fails what was not answered
            self._conn.disconnect()
            replies.extend([(None, err)] * (len(batch) - len(replies)))
        for (_, on_reply), (reply, error) in zip(batch, replies):
            if on_reply is None:
                if error is not None:
                    log.warning("%s: %s", self._name, error)
                continue
            try:
                on_reply(reply, error)
            except Exception:  # noqa: BLE001 - one caller's bug must not stop the writer
                log.exception("%s: reply handler failed", self._name)

"""Reads stored results by uri, as BigDL's OutputQueue does."""

from __future__ import annotations

import re
from types import TracebackType
from typing import Any, List, Mapping, Optional, Type, cast

import redis

from ._connection import connection_kwargs, make_client
from .codec import Result, decode_result
from .errors import ClusterServingError
from .keys import result_key, result_key_prefix


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class OutputQueue:
    """Reads the results the server stores for the job on ``stream`` (they expire after the topology's
    ``sink.resultTtlMs``). ``query`` leaves a result in place; ``dequeue`` takes every result there is.

    Connection options are those of :class:`InputQueue`.
    """

    def __init__(
        self,
        redis_url: Optional[str] = None,
        *,
        stream: str,
        password: Optional[str] = None,
        ssl: bool = False,
        ssl_options: Optional[Mapping[str, Any]] = None,
        redis_options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if not stream:
            raise ValueError("stream must be a non-empty string")
        self.stream = stream
        self._redis = make_client(connection_kwargs(redis_url, password, ssl, ssl_options, redis_options))

    def query(self, uri: str) -> Optional[Result]:
        """The result of ``uri`` (outputs or error), or None while there is none."""
        try:
            value = self._redis.hget(result_key(self.stream, uri), "value")
        except redis.RedisError as err:
            raise ClusterServingError("CS_ERR_CONNECTOR", f"could not read result {uri}: {err}", uri=uri) from err
        return None if value is None else decode_result(cast(bytes, value))

    def dequeue(self) -> List[Result]:
        """Every result stored for the job, each deleted as it is read (HGET + DEL in one MULTI)."""
        pattern = _glob_escape(result_key_prefix(self.stream)) + "*"
        out: List[Result] = []
        try:
            cursor = 0
            while True:
                cursor, keys = self._redis.scan(cursor=cursor, match=pattern, count=1000)
                if keys:
                    pipe = self._redis.pipeline(transaction=True)
                    for k in keys:
                        pipe.hget(k, "value")
                        pipe.delete(k)
                    replies = pipe.execute()
                    for value in replies[0::2]:
                        if isinstance(value, bytes):
                            out.append(decode_result(value))
                if cursor == 0:
                    break
        except redis.RedisError as err:
            raise ClusterServingError("CS_ERR_CONNECTOR", f"could not dequeue results of {self.stream}: {err}") from err
        return out

    def close(self) -> None:
        self._redis.close()

    def __enter__(self) -> "OutputQueue":
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

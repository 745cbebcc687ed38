"""Redis being away for a while (restart, ``LOADING``, refused connections) versus an answer: what is retried."""

from __future__ import annotations

import logging
import random
import re
import ssl
from typing import Iterator, Optional

import redis

from .errors import ClusterServingError

log = logging.getLogger("cluster_serving")

#: How long ``enqueue`` waits for a Redis that is away (seconds).
ENQUEUE_TIMEOUT = 10.0

_TRANSIENT_REPLY = re.compile(r"^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b")
_CERTIFICATE = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate (verify failed|required)|unknown ca|bad certificate|self[- ]signed", re.I)


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen = 0
    e: Optional[BaseException] = err
    while e is not None and seen < 6:
        yield e
        seen += 1
        e = e.__cause__ or e.__context__


def is_certificate_error(err: BaseException) -> bool:
    """A TLS certificate failure (the server's is not trusted, or it refused ours): no retry cures it."""
    return any(isinstance(e, ssl.SSLCertVerificationError) or (isinstance(e, (ssl.SSLError, OSError, redis.ConnectionError)) and _CERTIFICATE.search(str(e))) for e in _chain(err))


def is_transient(err: BaseException) -> bool:
    """Redis away for a while (refused or dropped connection, ``LOADING``, a failover): send again later."""
    if is_certificate_error(err):
        return False
    if isinstance(err, (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError, OSError)):
        return True  # redis.BusyLoadingError (LOADING) is a redis.ConnectionError
    return isinstance(err, redis.ResponseError) and bool(_TRANSIENT_REPLY.match(str(err)))


def certificate_failure(err: BaseException, uri: Optional[str] = None) -> ClusterServingError:
    """The clear error for a certificate failure."""
    return ClusterServingError(
        "CS_ERR_CONNECTOR",
        f"TLS to Redis failed: {err}; give the CA that signed the server certificate with ssl_ca_certs= or CS_REDIS_CA "
        "(and ssl_certfile=/ssl_keyfile= when the server asks for a client certificate)",
        uri=uri,
    )


def backoff(attempt: int) -> float:
    """Seconds before retry number ``attempt`` (0-based): 50 ms doubling to 1 s, ±20 %."""
    return min(1.0, 0.05 * 2 ** min(attempt, 10)) * (0.8 + 0.4 * random.random())


class OutageLog:
    """Logs an outage once at warning when it starts and once at info when Redis is back, never per retry."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._down = False

    def down(self, err: BaseException) -> None:
        if not self._down:
            self._down = True
            log.warning("%s: Redis unavailable, retrying until each request's deadline: %s", self._name, err)

    def up(self) -> None:
        if self._down:
            self._down = False
            log.info("%s: Redis available again", self._name)

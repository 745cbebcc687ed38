"""Redis connections from the options every queue takes."""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional

import redis
import redis.asyncio
from redis.asyncio.connection import parse_url as parse_url_async
from redis.connection import parse_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


def connection_kwargs(
    redis_url: Optional[str],
    password: Optional[str],
    ssl: bool,
    ssl_options: Optional[Mapping[str, Any]],
    redis_options: Optional[Mapping[str, Any]],
    *,
    asyncio: bool = False,
) -> Dict[str, Any]:
    """ConnectionPool keyword arguments: the URL (default ``$CS_REDIS_URL`` or redis://127.0.0.1:6379),
    then the explicit options, which win over the URL's. ``asyncio`` picks ``redis.asyncio``'s connection
    classes.

    Like the server's processes, the password defaults to ``$CS_REDIS_PASSWORD`` (or the first line of the
    file ``$CS_REDIS_PASSWORD_FILE``) when neither ``password`` nor the URL gives one, and a TLS connection
    (``rediss://``, ``ssl`` or ``ssl_options``) takes ``ssl_ca_certs``, ``ssl_certfile`` and ``ssl_keyfile``
    from ``$CS_REDIS_CA``, ``$CS_REDIS_CERT`` and ``$CS_REDIS_KEY`` unless ``ssl_options`` names them."""
    url = redis_url or os.environ.get("CS_REDIS_URL") or DEFAULT_REDIS_URL
    kwargs: Dict[str, Any] = {"socket_connect_timeout": 10.0}
    kwargs.update(parse_url_async(url) if asyncio else parse_url(url))  # type: ignore[no-untyped-call]
    if password is None and not kwargs.get("password"):
        password = _password_from_env()
    if password is not None:
        kwargs["password"] = password
    tls = ssl or bool(ssl_options) or url.lower().startswith("rediss://")
    if tls:
        kwargs["connection_class"] = redis.asyncio.SSLConnection if asyncio else redis.SSLConnection
        for option, env in (("ssl_ca_certs", "CS_REDIS_CA"), ("ssl_certfile", "CS_REDIS_CERT"), ("ssl_keyfile", "CS_REDIS_KEY")):
            if os.environ.get(env) and option not in (ssl_options or {}):
                kwargs[option] = os.environ[env]
    if ssl_options:
        kwargs.update(ssl_options)
    if redis_options:
        kwargs.update(redis_options)
    kwargs["decode_responses"] = False  # tensor data is binary
    return kwargs


def _password_from_env() -> Optional[str]:
    """``$CS_REDIS_PASSWORD``, else the first line of ``$CS_REDIS_PASSWORD_FILE``, else None."""
    if os.environ.get("CS_REDIS_PASSWORD"):
        return os.environ["CS_REDIS_PASSWORD"]
    path = os.environ.get("CS_REDIS_PASSWORD_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n") or None
    return None


def make_client(kwargs: Mapping[str, Any]) -> "redis.Redis":
    """A client with its own pool."""
    return redis.Redis(connection_pool=redis.ConnectionPool(**kwargs))

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
    classes."""
    url = redis_url or os.environ.get("CS_REDIS_URL") or DEFAULT_REDIS_URL
    kwargs: Dict[str, Any] = {"socket_connect_timeout": 10.0}
    kwargs.update(parse_url_async(url) if asyncio else parse_url(url))  # type: ignore[no-untyped-call]
    if password is not None:
        kwargs["password"] = password
    if ssl or ssl_options:
        kwargs["connection_class"] = redis.asyncio.SSLConnection if asyncio else redis.SSLConnection
    if ssl_options:
        kwargs.update(ssl_options)
    if redis_options:
        kwargs.update(redis_options)
    kwargs["decode_responses"] = False  # tensor data is binary
    return kwargs


def make_client(kwargs: Mapping[str, Any]) -> "redis.Redis":
    """A client with its own pool."""
    return redis.Redis(connection_pool=redis.ConnectionPool(**kwargs))

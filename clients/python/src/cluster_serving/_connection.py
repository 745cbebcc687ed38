"""Redis connections from the options every queue takes."""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional

import redis
from redis.connection import parse_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


def connection_kwargs(
    redis_url: Optional[str],
    password: Optional[str],
    ssl: bool,
    ssl_options: Optional[Mapping[str, Any]],
    redis_options: Optional[Mapping[str, Any]],
) -> Dict[str, Any]:
    """ConnectionPool keyword arguments: the URL (default ``$CS_REDIS_URL`` or redis://127.0.0.1:6379),
    then the explicit options, which win over the URL's."""
    url = redis_url or os.environ.get("CS_REDIS_URL") or DEFAULT_REDIS_URL
    kwargs: Dict[str, Any] = {"socket_connect_timeout": 10.0}
    kwargs.update(parse_url(url))  # type: ignore[no-untyped-call]
    if password is not None:
        kwargs["password"] = password
    if ssl or ssl_options:
        kwargs["connection_class"] = redis.SSLConnection
    if ssl_options:
        kwargs.update(ssl_options)
    if redis_options:
        kwargs.update(redis_options)
    return kwargs


def make_client(kwargs: Mapping[str, Any]) -> "redis.Redis":
    """A client with its own pool (bytes replies: tensor data is binary)."""
    return redis.Redis(connection_pool=redis.ConnectionPool(**{**kwargs, "decode_responses": False}))

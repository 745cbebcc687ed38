"""Connection options: URL, then explicit options, which win."""

from __future__ import annotations

import pytest
import redis

from cluster_serving._connection import connection_kwargs


def test_url_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CS_REDIS_URL", raising=False)
    kw = connection_kwargs(None, None, False, None, None)
    assert (kw["host"], kw["port"]) == ("127.0.0.1", 6379)
    assert "connection_class" not in kw
    monkeypatch.setenv("CS_REDIS_URL", "redis://redis.example:7000/2")
    kw = connection_kwargs(None, None, False, None, None)
    assert (kw["host"], kw["port"], kw["db"]) == ("redis.example", 7000, 2)


def test_explicit_password_and_tls_win_over_the_url() -> None:
    kw = connection_kwargs("redis://:from-url@h:1", "explicit", True, {"ssl_ca_certs": "/ca.pem"}, {"socket_timeout": 5})
    assert kw["password"] == "explicit"
    assert kw["connection_class"] is redis.SSLConnection
    assert kw["ssl_ca_certs"] == "/ca.pem" and kw["socket_timeout"] == 5
    assert connection_kwargs("rediss://h:1", None, False, None, None)["connection_class"] is redis.SSLConnection
    assert connection_kwargs("redis://:pw@h:1", None, False, None, None)["password"] == "pw"

"""The error a client raises: one of the server's CS_ERR_* codes plus a message."""

from __future__ import annotations

from typing import Any, Optional, Tuple

#: Every code the server emits (ARCHITECTURE.md, "Error codes").
ERROR_CODES = frozenset(
    {
        "CS_ERR_CONFIG",
        "CS_ERR_TOPOLOGY",
        "CS_ERR_BAD_REQUEST",
        "CS_ERR_SHAPE",
        "CS_ERR_INFERENCE",
        "CS_ERR_USER_OPERATOR",
        "CS_ERR_TIMEOUT",
        "CS_ERR_CONNECTOR",
        "CS_ERR_NOT_FOUND",
        "CS_ERR_MODEL_LOAD",
        "CS_ERR_POISON",
        "CS_ERR_CLOSED",
        "CS_ERR_INTERNAL",
    }
)


class ClusterServingError(Exception):
    """A failure with a ``CS_ERR_*`` code: an error result from the server, or one raised by the client.

    ``code`` is the code as the server sent it; ``uri`` names the request when there is one.
    A ``CS_ERR_TIMEOUT`` error is a :class:`ClusterServingTimeoutError`, which is also a ``TimeoutError``.
    """

    code: str
    message: str
    uri: Optional[str]

    def __new__(cls, *args: Any, **kwargs: Any) -> "ClusterServingError":
        code = args[0] if args else kwargs.get("code")
        if cls is ClusterServingError and code == "CS_ERR_TIMEOUT":
            cls = ClusterServingTimeoutError
        return super().__new__(cls)

    def __init__(self, code: str, message: str, uri: Optional[str] = None) -> None:
        super().__init__(f"{code}: {message}")
        self.args = (f"{code}: {message}",)
        self.code = code
        self.message = message
        self.uri = uri

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, uri={self.uri!r})"

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (self.code, self.message, self.uri))


class ClusterServingTimeoutError(ClusterServingError, TimeoutError):
    """``CS_ERR_TIMEOUT``: no result arrived before the deadline. Catch it as ``TimeoutError`` too."""

    def __init__(self, code: str = "CS_ERR_TIMEOUT", message: str = "timed out", uri: Optional[str] = None) -> None:
        super().__init__(code, message, uri)

"""The three Redis commands a queue sends per request, packed once (RESP arrays of bulk strings), and the
shapes of an XREAD reply under RESP2 and RESP3.

redis-py packs each command argument by argument (a few µs per XADD); a stream's XADD prefix is the same for
every request, so it is packed once per queue and a request adds only its uri and payload. The packed
commands go through redis-py's own connections (``send_packed_command`` / ``read_response``), which keep
redis-py's TLS, authentication and reply parsing.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

Arg = Union[str, bytes, int]


def _bulk(arg: Arg) -> bytes:
    raw = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


def pack(*args: Arg) -> bytes:
    """One command as a RESP array of bulk strings."""
    return b"*%d\r\n%s" % (len(args), b"".join(_bulk(a) for a in args))


class XaddPacker:
    """``XADD <stream> * uri <uri> data <payload>`` for one stream, its fixed prefix packed once."""

    __slots__ = ("_prefix",)

    def __init__(self, stream: str) -> None:
        self._prefix = b"*7\r\n" + _bulk("XADD") + _bulk(stream) + _bulk("*") + _bulk("uri")

    def parts(self, uri: str, payload: bytes) -> Tuple[bytes, bytes, bytes]:
        """The command as three chunks (prefix and uri, the payload as it is, the end): no copy of the payload."""
        raw = uri.encode("utf-8")
        return (b"%s$%d\r\n%s\r\n$4\r\ndata\r\n$%d\r\n" % (self._prefix, len(raw), raw, len(payload)), payload, b"\r\n")


def xread(key: str, last_id: bytes, count: int, block_ms: int) -> bytes:
    return pack("XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", key, last_id)


def xtrim_minid(key: str, min_id: str) -> bytes:
    return pack("XTRIM", key, "MINID", min_id)


def unlink(keys: Sequence[str]) -> bytes:
    return pack("UNLINK", *keys)


def stream_entries(reply: Any) -> Iterator[Tuple[bytes, Optional[bytes]]]:
    """(entry id, its ``data`` field or None) of each entry in a raw XREAD reply (RESP2 list or RESP3 map)."""
    if not reply:
        return
    streams = reply.values() if isinstance(reply, dict) else (s[1] for s in reply)
    for entries in streams:
        for entry_id, fields in entries:
            data: Optional[bytes] = None
            if isinstance(fields, dict):
                data = fields.get(b"data")
            elif fields:
                for i in range(0, len(fields) - 1, 2):
                    if fields[i] == b"data":
                        data = fields[i + 1]
                        break
            yield entry_id, data


def next_id(entry_id: bytes) -> str:
    """The stream id just after ``entry_id`` (XTRIM MINID keeps ids >= the given one)."""
    ms, _, seq = entry_id.decode().partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def join_commands(commands: List[bytes]) -> List[bytes]:
    """Commands as few chunks to send: small ones joined into one write, big payloads sent as they are."""
    out: List[bytes] = []
    small: List[bytes] = []
    size = 0
    for chunk in commands:
        if len(chunk) >= 65536:
            if small:
                out.append(b"".join(small))
                small, size = [], 0
            out.append(chunk)
        else:
            small.append(chunk)
            size += len(chunk)
    if small:
        out.append(b"".join(small))
    return out

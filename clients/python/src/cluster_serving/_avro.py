"""Avro binary primitives for the native protocol's three small records, hand-written for speed.

fastavro walks a parsed schema and builds a dict per record and per tensor: about 30 µs to encode and 30–45 µs
to decode the tiny model's request and result (a busy 2-core machine), more than the rest of a predict costs. The schemas are fixed
(``schemas/*.avsc``), so this module writes and reads them directly from bytes: precomputed encodings for the
lengths, names and shapes that repeat, one ``bytes.join`` per message. ``tests/test_codec.py`` checks that
the bytes equal fastavro's for the shipped schemas, both ways.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

#: Encodings of the longs 0..1023 (lengths, counts, dims and enum indices are mostly small).
_SMALL: List[bytes] = []


def _varint(n: int) -> bytes:
    """A non-negative zigzagged value as an Avro varint."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_long(n: int) -> bytes:
    """An Avro ``long`` (zigzag varint)."""
    if 0 <= n < 1024:
        return _SMALL[n]
    return _varint((n << 1) ^ (n >> 63))


_SMALL.extend(_varint(i << 1) for i in range(1024))


def encode_string(text: str) -> bytes:
    """An Avro ``string``: its UTF-8 length, then the bytes."""
    raw = text.encode("utf-8")
    return encode_long(len(raw)) + raw


class EncodingCache:
    """Encodings of the strings and shapes a client sends again and again (names, reply keys, shapes).

    Bounded: it is emptied when it holds ``limit`` entries, so a client with ever-new names does not grow.
    """

    __slots__ = ("_strings", "_shapes", "_limit")

    def __init__(self, limit: int = 4096) -> None:
        self._strings: Dict[str, bytes] = {}
        self._shapes: Dict[Tuple[int, ...], bytes] = {}
        self._limit = limit

    def string(self, text: str) -> bytes:
        enc = self._strings.get(text)
        if enc is None:
            if len(self._strings) >= self._limit:
                self._strings.clear()
            enc = self._strings[text] = encode_string(text)
        return enc

    def shape(self, shape: Tuple[int, ...]) -> bytes:
        """An Avro ``array<long>``: one block of the dims, then the empty block (just the end for no dims)."""
        enc = self._shapes.get(shape)
        if enc is None:
            if len(self._shapes) >= self._limit:
                self._shapes.clear()
            if shape:
                enc = b"".join([encode_long(len(shape)), *(encode_long(d) for d in shape), b"\x00"])
            else:
                enc = b"\x00"
            self._shapes[shape] = enc
        return enc


class Truncated(ValueError):
    """The bytes end inside a value."""


def read_long(buf: bytes, pos: int) -> Tuple[int, int]:
    """The Avro ``long`` at ``pos`` and the position after it."""
    try:
        b = buf[pos]
    except IndexError:
        raise Truncated(f"data ends at byte {pos} inside a long") from None
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    n = b & 0x7F
    shift = 7
    while True:
        pos += 1
        try:
            b = buf[pos]
        except IndexError:
            raise Truncated(f"data ends at byte {pos} inside a long") from None
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return (n >> 1) ^ -(n & 1), pos + 1
        shift += 7
        if shift > 63:
            raise ValueError(f"a long longer than 10 bytes at byte {pos}")


def read_span(buf: bytes, pos: int) -> Tuple[int, int]:
    """The start and end of the ``bytes``/``string`` value at ``pos`` (its length prefix read)."""
    n, pos = read_long(buf, pos)
    end = pos + n
    if n < 0 or end > len(buf):
        raise Truncated(f"a value of {n} bytes at byte {pos} does not fit in {len(buf)} bytes")
    return pos, end


def read_string(buf: bytes, pos: int) -> Tuple[str, int]:
    start, end = read_span(buf, pos)
    return buf[start:end].decode("utf-8"), end


def read_block_count(buf: bytes, pos: int) -> Tuple[int, int]:
    """The item count of the array block at ``pos`` (0 ends the array); a negative count's byte size is skipped."""
    count, pos = read_long(buf, pos)
    if count < 0:
        _size, pos = read_long(buf, pos)
        count = -count
    return count, pos


def read_long_array(buf: bytes, pos: int) -> Tuple[List[int], int]:
    out: List[int] = []
    while True:
        count, pos = read_block_count(buf, pos)
        if count == 0:
            return out, pos
        for _ in range(count):
            v, pos = read_long(buf, pos)
            out.append(v)

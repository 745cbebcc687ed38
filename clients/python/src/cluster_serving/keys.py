"""Key names and split routing of the native protocol: identical in every client language."""

from __future__ import annotations


def partition_of(uri: str, partitions: int) -> int:
    """FNV-1a (32 bit) of the uri's UTF-16 code units, modulo ``partitions``.

    The same function as the TypeScript ``partitionOf``, which hashes ``uri.charCodeAt(i)``: characters
    outside the Basic Multilingual Plane count as their two surrogate code units.
    """
    if partitions <= 1:
        return 0
    h = 0x811C9DC5
    units = uri.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(units), 2):
        h ^= units[i] | (units[i + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h % partitions


def split_stream_key(stream: str, partitions: int, partition: int) -> str:
    """The stream key of one split: the stream itself when there is one partition, else ``<stream>:<p>``."""
    return stream if partitions == 1 else f"{stream}:{partition}"


def result_key(stream: str, uri: str) -> str:
    """Where the server stores the result of ``uri`` (a hash, field ``value``)."""
    return f"{stream}:result:{uri}"


def result_key_prefix(stream: str) -> str:
    return f"{stream}:result:"


def ready_key(stream: str) -> str:
    """The hash where the JobManager says whether the job reading ``stream`` serves (field ``ready`` = ``1``)."""
    return f"{stream}:ready"

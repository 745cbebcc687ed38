"""What the sync and the asyncio input queues share: arguments, uris, split routing, packed commands, replies."""

from __future__ import annotations

import itertools
import logging
import math
import uuid
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import ArrayLike

from . import _resp
from .codec import Result, ResultError, decode_result, encode_request
from .errors import ClusterServingError
from .keys import partition_of, result_key, split_stream_key

log = logging.getLogger("cluster_serving")

#: How long one blocking XREAD waits (ms). A reply wakes it at once; an idle reader stops after one empty wait.
READ_BLOCK_MS = 1000
#: Reply entries read per XREAD.
READ_COUNT = 1000


def merge_inputs(inputs: Optional[Mapping[str, ArrayLike]], named: Mapping[str, ArrayLike]) -> Dict[str, ArrayLike]:
    merged: Dict[str, ArrayLike] = dict(inputs) if inputs is not None else {}
    for name, value in named.items():
        if name in merged:
            raise ClusterServingError("CS_ERR_BAD_REQUEST", f"input {name} given twice")
        merged[name] = value
    return merged


def check_timeout(timeout: float) -> None:
    if not isinstance(timeout, (int, float)) or not timeout > 0 or math.isinf(timeout):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


def check_unique(uris: Sequence[str], waiting: Mapping[str, Any]) -> None:
    """``CS_ERR_BAD_REQUEST`` for the first uri that repeats or already waits."""
    seen = set()
    for uri in uris:
        if uri in seen or uri in waiting:
            raise ClusterServingError("CS_ERR_BAD_REQUEST", f"a predict for uri {uri} is already waiting", uri=uri)
        seen.add(uri)


def timeout_error(uri: str, timeout: float) -> ClusterServingError:
    return ClusterServingError("CS_ERR_TIMEOUT", f"no result for {uri} within {timeout:g} s", uri=uri)


def timed_out_result(uri: str, timeout: float) -> Result:
    """The result :meth:`predict_many_results` gives a request that got none in time."""
    return Result(uri, {}, ResultError("CS_ERR_TIMEOUT", f"no result for {uri} within {timeout:g} s"))


def raise_first_error(results: Sequence[Result]) -> List[Dict[str, np.ndarray]]:
    """The outputs of every result, or the first error result (in order) raised."""
    return [r.raise_for_error() for r in results]


class QueueBase:
    """The stream, its splits and this queue's reply stream; each request's XADD packed from a fixed prefix."""

    def __init__(self, stream: str, partitions: int) -> None:
        if not stream:
            raise ValueError("stream must be a non-empty string")
        if not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be an integer >= 1, got {partitions!r}")
        self.stream = stream
        self.partitions = partitions
        self._reply_key = f"{stream}:reply:{uuid.uuid4()}"
        self._packers = [_resp.XaddPacker(split_stream_key(stream, partitions, p)) for p in range(partitions)]
        # Default uris: one random prefix per queue and a counter (a uuid4 per request costs more than the
        # rest of the encoding).
        self._uri_prefix = f"{uuid.uuid4().hex}-"
        self._uri_counter = itertools.count()

    @property
    def reply_stream(self) -> str:
        """This queue's reply stream key."""
        return self._reply_key

    def stream_for(self, uri: str) -> str:
        """The split stream key a request for ``uri`` goes to."""
        return split_stream_key(self.stream, self.partitions, partition_of(uri, self.partitions))

    def _new_uri(self) -> str:
        return f"{self._uri_prefix}{next(self._uri_counter)}"

    def _xadd(self, uri: str, inputs: Mapping[str, ArrayLike], reply: bool) -> Tuple[bytes, bytes, bytes]:
        """The packed XADD of one request (encoding errors raise here, before anything is sent)."""
        payload = encode_request(inputs, reply_to=self._reply_key if reply else None)
        packer = self._packers[0] if self.partitions == 1 else self._packers[partition_of(uri, self.partitions)]
        return packer.parts(uri, payload)

    def _decode_replies(self, reply: Any) -> Tuple[List[Result], Optional[bytes]]:
        """The results in a raw XREAD reply of the reply stream, and the last entry id read."""
        results: List[Result] = []
        last: Optional[bytes] = None
        for entry_id, data in _resp.stream_entries(reply):
            last = entry_id if isinstance(entry_id, bytes) else str(entry_id).encode()
            if data is None:
                continue
            try:
                results.append(decode_result(data))
            except Exception as err:  # noqa: BLE001 - one bad entry must not stop the reader
                log.warning("skipping undecodable reply %s on %s: %s", entry_id, self._reply_key, err)
        return results, last

    def _xread(self, last_id: bytes) -> bytes:
        return _resp.xread(self._reply_key, last_id, READ_COUNT, READ_BLOCK_MS)

    def _cleanup(self, results: Sequence[Result], last: bytes) -> List[bytes]:
        """The reply carried each result: delete its stored copy, and trim the entries read."""
        commands = [_resp.xtrim_minid(self._reply_key, _resp.next_id(last))]
        if results:
            commands.insert(0, _resp.unlink([result_key(self.stream, r.uri) for r in results]))
        return commands

"""Reading ``<stream>:ready``, the hash the JobManager keeps for each stream its jobs read (same rules as the
TypeScript client's ``waitStreamReady``): ``ready`` is ``1`` once every subtask has its model loaded and reads
its splits; ``state`` FAILED (with ``code``) or CANCELED ends the wait with an error."""

from __future__ import annotations

from typing import Mapping, Optional, Tuple

from .errors import ERROR_CODES, ClusterServingError

#: How often a wait polls the hash (s).
POLL_INTERVAL = 0.1


def verdict(stream: str, raw: Mapping[bytes, bytes]) -> Tuple[bool, Optional[ClusterServingError], str]:
    """(ready, the failure that ends the wait or None, what it still waits for)."""
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    if fields.get("ready") == "1":
        return True, None, ""
    state = fields.get("state")
    if state is None:
        return False, None, f"no job serves stream {stream} yet (nothing submitted, or its JobManager has not written {stream}:ready)"
    job = f" {fields['job']}" if "job" in fields else ""
    reason = f": {fields['reason']}" if "reason" in fields else ""
    if state == "FAILED":
        code = fields.get("code", "CS_ERR_INTERNAL")
        if code not in ERROR_CODES:
            code = "CS_ERR_INTERNAL"
        return False, ClusterServingError(code, f"job{job} on stream {stream} failed{reason}"), f"job{job} FAILED"
    if state == "CANCELED":
        return False, ClusterServingError("CS_ERR_CLOSED", f"job{job} on stream {stream} was canceled"), f"job{job} CANCELED"
    return False, None, f"job{job} is {state}{reason}"


def not_ready_error(stream: str, timeout: float, waiting: str) -> ClusterServingError:
    return ClusterServingError("CS_ERR_TIMEOUT", f"stream {stream} is not ready within {timeout:g} s: {waiting}")

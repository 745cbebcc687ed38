"""Python client for Cluster Serving's native protocol (Redis Streams, Avro tensors).

>>> import numpy as np
>>> from cluster_serving import InputQueue
>>> with InputQueue(redis_url="redis://127.0.0.1:6379", stream="tiny") as q:  # doctest: +SKIP
...     outputs = q.predict({"input": np.zeros((1, 16), np.float32)}, timeout=2.0)

:class:`AsyncInputQueue` is the same for asyncio (``await q.predict(...)``).
"""

from .codec import (
    NATIVE_VERSION,
    WIRE_DTYPES,
    Result,
    ResultError,
    decode_request,
    decode_result,
    encode_request,
    encode_result,
)
from .async_input_queue import AsyncInputQueue
from .errors import ERROR_CODES, ClusterServingError, ClusterServingTimeoutError
from .input_queue import InputQueue
from .keys import partition_of, result_key, split_stream_key
from .output_queue import OutputQueue

__version__ = "0.2.0"

__all__ = [
    "ERROR_CODES",
    "NATIVE_VERSION",
    "WIRE_DTYPES",
    "AsyncInputQueue",
    "ClusterServingError",
    "ClusterServingTimeoutError",
    "InputQueue",
    "OutputQueue",
    "Result",
    "ResultError",
    "decode_request",
    "decode_result",
    "encode_request",
    "encode_result",
    "partition_of",
    "result_key",
    "split_stream_key",
]

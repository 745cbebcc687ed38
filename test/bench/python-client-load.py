"""Python-client load for `npm run bench`: one process, CONCURRENCY requests in flight for SECONDS; prints req/s.

Usage: python python-client-load.py REDIS_URL STREAM SECONDS CONCURRENCY [MODE]

MODE (default many, the fastest: about half the client CPU per request of the others):
  many     InputQueue.predict_many of CONCURRENCY requests at a time, from 2 threads (one batch being written
           while the other's results come back)
  async    CONCURRENCY asyncio tasks, each awaiting AsyncInputQueue.predict in a loop (one event loop)
  threads  CONCURRENCY threads, each calling InputQueue.predict in a loop (the blocking API)

Only the rate goes to stdout; the mode, the count and the client's CPU time per request go to stderr.
"""
import asyncio
import sys
import threading
import time

import numpy as np

from cluster_serving import AsyncInputQueue, InputQueue

MODES = ("many", "async", "threads")


def run_async(url: str, stream: str, seconds: float, concurrency: int, x: np.ndarray) -> tuple:
    async def main() -> tuple:
        async with AsyncInputQueue(url, stream=stream) as q:
            await q.predict_many([{"input": x}] * 100, timeout=30)  # warm up
            done = [0]
            end = time.perf_counter() + seconds

            async def worker() -> None:
                n = 0
                while time.perf_counter() < end:
                    await q.predict({"input": x}, timeout=30)
                    n += 1
                done[0] += n

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return done[0], time.perf_counter() - start

    return asyncio.run(main())


def run_sync(url: str, stream: str, seconds: float, concurrency: int, x: np.ndarray, mode: str) -> tuple:
    with InputQueue(url, stream=stream) as q:
        q.predict_many([{"input": x}] * 100, timeout=30)  # warm up
        threads = 2 if mode == "many" else concurrency
        done = [0] * threads
        batch = [{"input": x}] * concurrency
        end = time.perf_counter() + seconds

        def worker(i: int) -> None:
            while time.perf_counter() < end:
                if mode == "many":
                    q.predict_many(batch, timeout=30)
                    done[i] += concurrency
                else:
                    q.predict({"input": x}, timeout=30)
                    done[i] += 1

        start = time.perf_counter()
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return sum(done), time.perf_counter() - start


def main() -> None:
    if len(sys.argv) not in (5, 6) or (len(sys.argv) == 6 and sys.argv[5] not in MODES):
        sys.exit(f"usage: python-client-load.py REDIS_URL STREAM SECONDS CONCURRENCY [{'|'.join(MODES)}]")
    url, stream, seconds, concurrency = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) == 6 else "many"
    x = (np.arange(16, dtype=np.float32) / 16).reshape(1, 16)
    cpu = time.process_time()
    if mode == "async":
        n, wall = run_async(url, stream, seconds, concurrency, x)
    else:
        n, wall = run_sync(url, stream, seconds, concurrency, x, mode)
    cpu = time.process_time() - cpu
    print(f"python-client-load: {mode}, {concurrency} in flight: {n} requests in {wall:.2f} s, client CPU {cpu / max(n, 1) * 1e6:.1f} us/request", file=sys.stderr)
    print(n / wall)


if __name__ == "__main__":
    main()

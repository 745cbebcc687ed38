"""Load from the unmodified released BigDL Cluster Serving client, for test/bench/bigdl-client-bench.ts.

Usage: python bigdl-client-load.py REDIS_URL STREAM CLIENT SECONDS CLIENTS BURST SEQUENTIAL
  CLIENT      zoo (analytics-zoo-serving 0.11: tensors [3, 224, 224], the server adds the batch dimension)
              or bigdl (bigdl-serving 2.x: tensors [1, 3, 224, 224])
  SECONDS     length of the closed-loop run
  CLIENTS     client processes in the closed loop, each calling InputQueue.predict back to back
  BURST       requests enqueued at once (InputQueue.enqueue), then collected (OutputQueue.dequeue)
  SEQUENTIAL  predict calls one at a time, for the latency percentiles

Prints one JSON line: {"closed": img/s, "burst": img/s, "p50": ms, "p90": ms, "requests": n}, where
requests counts every request sent (warm-ups included), for CPU per request.
Each client is a process of its own: the client encodes a 600 KB tensor in ~5 ms of Python, so threads
of one process would measure the GIL. predict() is the released one (it polls with a growing sleep);
it works with numpy < 1.25 only (reference/bigdl-protocol.md), so run this in .venv-bigdl-old.
"""
import json
import multiprocessing as mp
import sys
import time
import warnings
from urllib.parse import urlparse

import numpy as np

warnings.simplefilter("ignore")  # pyarrow's FutureWarning on every enqueue of the 0.11 client


def queues(url, stream, client):
    if client == "zoo":
        from zoo.serving.client import InputQueue, OutputQueue
    else:
        from bigdl.serving.client import InputQueue, OutputQueue
    u = urlparse(url)
    host, port = u.hostname or "127.0.0.1", u.port or 6379
    return InputQueue(host=host, port=port, name=stream), OutputQueue(host=host, port=port, name=stream)


def tensor(client, seed):
    x = np.random.RandomState(seed).rand(3, 224, 224).astype(np.float32)
    return x if client == "zoo" else x[None]


def failed(result):
    return isinstance(result, str)  # "NaN" (failed on the server) or "[]" (no answer)


def closed_loop_worker(url, stream, client, index, start_at, seconds, counts, errors, calls):
    iq, _ = queues(url, stream, client)
    x = tensor(client, index)
    for _ in range(3):
        iq.predict(x)
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    done = 0
    bad = 0
    while time.time() < end:
        if failed(iq.predict(x)):
            bad += 1
        else:
            done += 1
    counts[index] = done
    errors[index] = bad
    calls[index] = 3 + done + bad


def closed_loop(url, stream, client, seconds, clients):
    ctx = mp.get_context("spawn")
    counts = ctx.Array("i", clients)
    errors = ctx.Array("i", clients)
    calls = ctx.Array("i", clients)
    start_at = time.time() + 3 + 0.5 * clients  # after every process has imported and warmed up
    procs = [ctx.Process(target=closed_loop_worker, args=(url, stream, client, i, start_at, seconds, counts, errors, calls)) for i in range(clients)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        raise RuntimeError("a closed-loop client process failed")
    if sum(errors) > 0:
        raise RuntimeError(f"{sum(errors)} closed-loop requests failed")
    if time.time() < start_at + seconds:
        raise RuntimeError("the clients started late; raise the start delay")
    return sum(counts) / seconds, sum(calls)


def burst(iq, oq, client, n):
    x = tensor(client, 0)
    uris = [f"burst-{i}" for i in range(n)]
    start = time.perf_counter()
    for uri in uris:
        iq.enqueue(uri, t=x)
    got = {}
    while len(got) < n:
        got.update(oq.dequeue())
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    bad = [u for u, r in got.items() if failed(r)]
    if bad:
        raise RuntimeError(f"{len(bad)} burst requests failed")
    return n / elapsed


def sequential(iq, client, n):
    x = tensor(client, 1)
    for _ in range(5):
        iq.predict(x)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = iq.predict(x)
        out.append((time.perf_counter() - t) * 1000)
        if failed(r):
            raise RuntimeError(f"a sequential request failed: {r}")
    out.sort()
    return out[len(out) // 2], out[min(len(out) - 1, int(0.9 * len(out)))]


def main():
    url, stream, client = sys.argv[1], sys.argv[2], sys.argv[3]
    seconds, clients, n_burst, n_seq = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    iq, oq = queues(url, stream, client)
    p50, p90 = sequential(iq, client, n_seq)
    rate, closed_calls = closed_loop(url, stream, client, seconds, clients)
    burst_rate = burst(iq, oq, client, n_burst)
    requests = 5 + n_seq + closed_calls + n_burst
    print(json.dumps({"closed": rate, "burst": burst_rate, "p50": p50, "p90": p90, "requests": requests}))


if __name__ == "__main__":
    main()

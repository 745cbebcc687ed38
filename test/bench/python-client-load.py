"""Python-client load for `npm run bench`: threads doing InputQueue.predict for a fixed time; prints req/s.
Usage: python python-client-load.py REDIS_URL STREAM SECONDS THREADS"""
import sys, threading, time
import numpy as np
from cluster_serving import InputQueue

url, stream, seconds, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
x = (np.arange(16, dtype=np.float32) / 16).reshape(1, 16)
done = [0] * threads
with InputQueue(url, stream=stream) as q:
    for _ in range(20):
        q.predict({"input": x}, timeout=30)
    end = time.perf_counter() + seconds

    def worker(i):
        while time.perf_counter() < end:
            q.predict({"input": x}, timeout=30)
            done[i] += 1

    start = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts: t.start()
    for t in ts: t.join()
    print(sum(done) / (time.perf_counter() - start))

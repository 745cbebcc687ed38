"""Redis SIGKILLed and restarted under load: the Python client and `cs start` ride through it.

Redis runs with ``appendonly yes`` and ``appendfsync always`` (every XADD it acknowledged is on disk), is
SIGKILLed once 100 requests are answered and started again 1.5 s later on the same port and folder. Every
request the client sent must be answered, each with its own right output.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import numpy as np
import pytest
import redis

from cluster_serving import AsyncInputQueue, ClusterServingError, InputQueue


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except AssertionError:
            raise
        except Exception:  # noqa: BLE001 - retried until the deadline
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class AofRedis:
    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.proc: "subprocess.Popen[bytes] | None" = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder), "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", "--protected-mode", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )
        _wait("redis-server", lambda: redis.Redis.from_url(self.url).ping(), 20)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture()
def served(repo: Path, tmp_path: Path) -> Iterator[Tuple[AofRedis, str, Path]]:
    """A Redis with AOF and `cs start` serving the tiny model on it: (redis, stream, cs start's log)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not on PATH")
    aof = AofRedis(tmp_path / "redis")
    aof.folder.mkdir()
    aof.start()
    cs = [shutil.which("node") or "node", str(repo / "bin" / "cs.js")]
    generated = subprocess.run(cs + ["model", "generate", "--dir", str(tmp_path / "models")], capture_output=True, text=True, cwd=repo, timeout=120)
    assert generated.returncode == 0, generated.stderr
    name = f"py-outage-{int(time.time() * 1000) % 10**8}"
    topology = tmp_path / f"{name}.yaml"
    topology.write_text(f"name: {name}\nsource: {{ type: redis }}\nbatch: {{ maxSize: 32, maxDelayMs: 1 }}\nmodel: {{ path: {tmp_path / 'models' / 'tiny.onnx'} }}\n")
    log_path = tmp_path / "cs-start.log"
    log = open(log_path, "wb")
    start = subprocess.Popen(cs + ["start", str(topology), "--port", "0", "--redis", aof.url, "--cache-dir", str(tmp_path / "cache")],
                             stdout=log, stderr=subprocess.STDOUT, cwd=repo, start_new_session=True)
    try:
        def running() -> bool:
            assert start.poll() is None, log_path.read_text()
            return "running;" in log_path.read_text()

        _wait("cs start running", running, 90)
        yield aof, name, log_path
        assert start.poll() is None, log_path.read_text()
        assert "Unhandled error event" not in log_path.read_text()
    finally:
        start.send_signal(signal.SIGINT)
        try:
            start.wait(20)
        except subprocess.TimeoutExpired:
            start.kill()
        log.close()
        if aof.proc and aof.proc.poll() is None:
            aof.kill()


def _input(i: int) -> np.ndarray:
    return np.full((1, 16), i / 1000, np.float32)


class Drill:
    """Sends 40 requests a second for 12 s; SIGKILLs Redis once 100 are answered and restarts it 1.5 s later."""

    def __init__(self, aof: AofRedis) -> None:
        self.aof = aof
        self.sent = 0
        self.answered = 0
        self.lost: List[str] = []
        self.outputs: Dict[int, np.ndarray] = {}
        self.killed_at = 0.0
        self.restarted = False
        self.begin = time.monotonic()

    def tick(self) -> int:
        """Kills or restarts Redis when due; returns how many requests should have been sent by now."""
        if not self.killed_at and self.answered >= 100:
            self.aof.kill()
            self.killed_at = time.monotonic()
        if self.killed_at and not self.restarted and time.monotonic() - self.killed_at >= 1.5:
            self.aof.start()
            self.restarted = True
        return int((time.monotonic() - self.begin) * 40)

    def running(self) -> bool:
        return time.monotonic() - self.begin < 12 or not self.restarted

    def check(self, client: str) -> None:
        print(f"redis outage drill ({client}, cs start, appendfsync always): sent {self.sent}, answered {self.answered}, lost {len(self.lost)}")
        assert self.lost == []
        assert self.answered == self.sent


def test_sync_client_rides_through_redis_sigkill_and_restart(served: Tuple[AofRedis, str, Path]) -> None:
    aof, name, _ = served
    with InputQueue(aof.url, stream=name) as q:
        _wait("a first answer", lambda: q.predict({"input": _input(0)}, timeout=5.0) is not None, 60)
        drill = Drill(aof)
        lock = threading.Lock()

        def one(i: int) -> None:
            try:
                out = q.predict({"input": _input(i)}, timeout=90.0)
            except ClusterServingError as err:
                with lock:
                    drill.lost.append(f"request {i}: {err}")
                return
            with lock:
                drill.answered += 1
                drill.outputs[i] = out["output"]

        threads: List[threading.Thread] = []
        while drill.running():
            due = drill.tick()
            while drill.sent < due:
                t = threading.Thread(target=one, args=(drill.sent,), daemon=True)
                t.start()
                threads.append(t)
                drill.sent += 1
            time.sleep(0.01)
        for t in threads:
            t.join(120)
        drill.check("Python InputQueue")
        # Equal inputs get equal outputs: the answers are the requests' own.
        for i in (0, drill.sent // 2, drill.sent - 1):
            assert np.allclose(drill.outputs[i], q.predict({"input": _input(i)}, timeout=30.0)["output"])


def test_async_client_rides_through_redis_sigkill_and_restart(served: Tuple[AofRedis, str, Path]) -> None:
    aof, name, _ = served

    async def run() -> Drill:
        async with AsyncInputQueue(aof.url, stream=name) as q:
            deadline = time.monotonic() + 60
            while True:
                try:
                    await q.predict({"input": _input(0)}, timeout=5.0)
                    break
                except ClusterServingError:
                    assert time.monotonic() < deadline, "no first answer"
            drill = Drill(aof)

            async def one(i: int) -> None:
                try:
                    out = await q.predict({"input": _input(i)}, timeout=90.0)
                except ClusterServingError as err:
                    drill.lost.append(f"request {i}: {err}")
                    return
                drill.answered += 1
                drill.outputs[i] = out["output"]

            tasks = []
            while drill.running():
                # Killing and starting Redis block: off the event loop, so the client keeps running meanwhile.
                due = await asyncio.to_thread(drill.tick)
                while drill.sent < due:
                    tasks.append(asyncio.create_task(one(drill.sent)))
                    drill.sent += 1
                await asyncio.sleep(0.01)
            await asyncio.gather(*tasks)
            return drill

    asyncio.run(run()).check("Python AsyncInputQueue")

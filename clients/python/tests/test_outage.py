"""Redis SIGKILLed and restarted under load: the Python client and `cs start` ride through it.

Redis runs with ``appendonly yes`` and ``appendfsync always`` (every XADD it acknowledged is on disk), is
SIGKILLed once 100 requests are answered and started again 1.5 s later on the same port and folder. Every
request the client sent must be answered, each with its own right output.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import List

import numpy as np
import pytest
import redis

from cluster_serving import ClusterServingError, InputQueue


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


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not on PATH")
def test_redis_sigkill_and_restart_under_load_every_request_answered(repo: Path, tmp_path: Path) -> None:
    aof = AofRedis(tmp_path / "redis")
    aof.folder.mkdir()
    aof.start()
    cs = [shutil.which("node") or "node", str(repo / "bin" / "cs.js")]
    generated = subprocess.run(cs + ["model", "generate", "--dir", str(tmp_path / "models")], capture_output=True, text=True, cwd=repo, timeout=120)
    assert generated.returncode == 0, generated.stderr
    name = f"py-outage-{int(time.time() * 1000) % 10**8}"
    topology = tmp_path / f"{name}.yaml"
    topology.write_text(f"name: {name}\nsource: {{ type: redis }}\nbatch: {{ maxSize: 32, maxDelayMs: 1 }}\nmodel: {{ path: {tmp_path / 'models' / 'tiny.onnx'} }}\n")
    log = open(tmp_path / "cs-start.log", "wb")
    start = subprocess.Popen(cs + ["start", str(topology), "--port", "0", "--redis", aof.url, "--cache-dir", str(tmp_path / "cache")],
                             stdout=log, stderr=subprocess.STDOUT, cwd=repo, start_new_session=True)
    try:
        def running() -> bool:
            assert start.poll() is None, (tmp_path / "cs-start.log").read_text()
            return "running;" in (tmp_path / "cs-start.log").read_text()

        _wait("cs start running", running, 90)
        with InputQueue(aof.url, stream=name) as q:
            _wait("a first answer", lambda: q.predict({"input": np.zeros((1, 16), np.float32)}, timeout=5.0) is not None, 60)
            sent = 0
            answered = 0
            lost: List[str] = []
            lock = threading.Lock()
            reference = {}

            def one(i: int) -> None:
                nonlocal answered
                x = np.full((1, 16), i / 1000, np.float32)
                try:
                    out = q.predict({"input": x}, timeout=90.0)
                except ClusterServingError as err:
                    with lock:
                        lost.append(f"request {i}: {err}")
                    return
                with lock:
                    answered += 1
                    reference[i] = out["output"]

            threads: List[threading.Thread] = []
            killed_at = 0.0
            restarted = False
            rate = 40
            begin = time.monotonic()
            while time.monotonic() - begin < 12 or not restarted:
                due = int((time.monotonic() - begin) * rate)
                while sent < due:
                    t = threading.Thread(target=one, args=(sent,), daemon=True)
                    t.start()
                    threads.append(t)
                    sent += 1
                if not killed_at and answered >= 100:
                    aof.kill()
                    killed_at = time.monotonic()
                if killed_at and not restarted and time.monotonic() - killed_at >= 1.5:
                    aof.start()
                    restarted = True
                time.sleep(0.01)
            for t in threads:
                t.join(120)
            print(f"redis outage drill (Python client, cs start, appendfsync always): sent {sent}, answered {answered}, lost {len(lost)}")
            assert lost == []
            assert answered == sent
            # Equal inputs get equal outputs: every answer is the request's own.
            assert all(np.allclose(reference[i], q.predict({"input": np.full((1, 16), i / 1000, np.float32)}, timeout=30.0)["output"]) for i in (0, sent // 2, sent - 1))
        assert start.poll() is None, (tmp_path / "cs-start.log").read_text()
        assert "Unhandled error event" not in (tmp_path / "cs-start.log").read_text()
    finally:
        start.send_signal(signal.SIGINT)
        try:
            start.wait(20)
        except subprocess.TimeoutExpired:
            start.kill()
        log.close()
        if aof.proc and aof.proc.poll() is None:
            aof.kill()

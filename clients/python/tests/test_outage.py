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
            return "ready;" in log_path.read_text()

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


def test_password_and_tls_files_default_to_the_cs_redis_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cluster_serving._connection import connection_kwargs

    monkeypatch.setenv("CS_REDIS_PASSWORD", "from-env")
    monkeypatch.setenv("CS_REDIS_CA", "/etc/ca.pem")
    plain = connection_kwargs("redis://127.0.0.1:6379", None, False, None, None)
    assert plain["password"] == "from-env"
    assert "ssl_ca_certs" not in plain
    assert connection_kwargs("redis://:in-url@127.0.0.1:6379", None, False, None, None)["password"] == "in-url"
    assert connection_kwargs("redis://127.0.0.1:6379", "given", False, None, None)["password"] == "given"
    tls = connection_kwargs("rediss://127.0.0.1:6380", None, False, None, None)
    assert tls["ssl_ca_certs"] == "/etc/ca.pem"
    assert connection_kwargs("rediss://127.0.0.1:6380", None, False, {"ssl_ca_certs": "/mine.pem"}, None)["ssl_ca_certs"] == "/mine.pem"
    monkeypatch.delenv("CS_REDIS_PASSWORD")
    (tmp_path / "pw").write_text("file-pw\nrest\n")
    monkeypatch.setenv("CS_REDIS_PASSWORD_FILE", str(tmp_path / "pw"))
    assert connection_kwargs("redis://127.0.0.1:6379", None, False, None, None)["password"] == "file-pw"


def test_redis_away_is_transient_a_certificate_failure_is_not() -> None:
    import ssl

    from cluster_serving._outage import is_certificate_error, is_transient

    assert is_transient(redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."))
    assert is_transient(redis.BusyLoadingError("Redis is loading the dataset in memory"))
    assert not is_transient(redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    cert = redis.ConnectionError("Error 1 connecting to 127.0.0.1:6380. [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert is_certificate_error(cert) and not is_transient(cert)
    try:
        raise redis.ConnectionError("wrapped") from ssl.SSLCertVerificationError("certificate verify failed")
    except redis.ConnectionError as err:
        assert is_certificate_error(err)


def _certificates(folder: Path) -> Dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 signed by it, and a second CA that signed nothing (openssl CLI)."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "1", "-subj", f"/CN=test {ca}")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "server.ext")
    return {"ca": folder / "ca.crt", "other-ca": folder / "other-ca.crt", "server": folder / "server.crt", "server-key": folder / "server.key"}


@pytest.mark.skipif(shutil.which("redis-server") is None or shutil.which("openssl") is None, reason="redis-server or openssl not on PATH")
def test_tls_with_the_ca_from_the_environment_and_a_clear_error_for_an_untrusted_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    certs = _certificates(tmp_path)
    port, tls_port = _free_port(), _free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path), "--tls-port", str(tls_port),
         "--tls-cert-file", str(certs["server"]), "--tls-key-file", str(certs["server-key"]), "--tls-ca-cert-file", str(certs["ca"]), "--tls-auth-clients", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait("redis-server", lambda: redis.Redis(port=port).ping(), 20)
        url = f"rediss://127.0.0.1:{tls_port}"
        monkeypatch.setenv("CS_REDIS_CA", str(certs["ca"]))
        with InputQueue(url, stream="py-tls") as q:
            assert q.enqueue("req-1", input=np.zeros((1, 16), np.float32))
        with InputQueue(url, stream="py-tls", ssl_options={"ssl_ca_certs": str(certs["other-ca"])}) as q:
            with pytest.raises(ClusterServingError) as failed:
                q.predict({"input": np.zeros((1, 16), np.float32)}, timeout=120.0)
            assert failed.value.code == "CS_ERR_CONNECTOR"
            assert "TLS to Redis failed" in str(failed.value) and "CS_REDIS_CA" in str(failed.value)

        async def untrusted_async() -> ClusterServingError:
            async with AsyncInputQueue(url, stream="py-tls", ssl_options={"ssl_ca_certs": str(certs["other-ca"])}) as aq:
                try:
                    await aq.predict({"input": np.zeros((1, 16), np.float32)}, timeout=120.0)
                except ClusterServingError as err:
                    return err
            raise AssertionError("the request should have failed")

        err = asyncio.run(untrusted_async())
        assert err.code == "CS_ERR_CONNECTOR" and "TLS to Redis failed" in str(err)
    finally:
        server.kill()
        server.wait()

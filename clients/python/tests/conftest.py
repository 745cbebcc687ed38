"""Fixtures: the repository, Node helpers, a Redis, and a real Cluster Serving server started with the CLI.

Environment:
  CS_TEST_REDIS_URL  use this Redis instead of starting ``redis-server`` on a free port
  CS_REPO_ROOT       the repository (default: three folders above this one)
  CS_TEST_STRICT=1   a missing prerequisite (Node, a built ``dist/``, onnx) fails instead of skipping
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np
import pytest
import redis

from cluster_serving import ClusterServingError, InputQueue

STRICT = os.environ.get("CS_TEST_STRICT") == "1"
REPO_ROOT = Path(os.environ.get("CS_REPO_ROOT") or Path(__file__).resolve().parents[3])

#: Served dtypes, by the name the identity model uses for their input (`x_<name>`) and output (`y_<name>`).
DTYPE_NAMES = ("float32", "float64", "int32", "int64", "uint8", "bool")


def need(ok: bool, why: str) -> None:
    """Skips the test when a prerequisite is missing, or fails it under CS_TEST_STRICT=1."""
    if not ok:
        if STRICT:
            pytest.fail(f"prerequisite missing (CS_TEST_STRICT=1): {why}", pytrace=False)
        pytest.skip(why)


def in_repo() -> bool:
    return (REPO_ROOT / "bin" / "cs.js").is_file() and (REPO_ROOT / "src" / "protocol" / "native").is_dir()


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository, built (`npx tsc -p .`), with Node on PATH."""
    need(in_repo(), f"not run from the Cluster Serving repository ({REPO_ROOT})")
    need(shutil.which("node") is not None, "node is not on PATH")
    need(
        (REPO_ROOT / "dist" / "src" / "protocol" / "native" / "native-codec.js").is_file(),
        "the repository is not built (run `npx tsc -p .`)",
    )
    return REPO_ROOT


@pytest.fixture(scope="session")
def run_node(repo: Path) -> Callable[[str, Any], Any]:
    """Runs a Node script in the repository with `input` (JSON on stdin) and returns the JSON it prints."""

    def run(script: str, payload: Any = None) -> Any:
        proc = subprocess.run(
            ["node", "-e", script],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            cwd=repo,
            timeout=60,
        )
        if proc.returncode != 0:
            raise AssertionError(f"node failed ({proc.returncode}):\n{proc.stderr}")
        return json.loads(proc.stdout)

    return run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Callable[[], bool], timeout: float, diagnostics: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{diagnostics()}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """CS_TEST_REDIS_URL, or a redis-server of its own on a free port in a temporary folder."""
    configured = os.environ.get("CS_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    need(shutil.which("redis-server") is not None, "redis-server is not on PATH (or set CS_TEST_REDIS_URL)")
    folder = tmp_path_factory.mktemp("redis")
    port = _free_port()
    log = open(folder / "redis.log", "wb")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}"
    client = redis.Redis.from_url(url)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {proc.returncode}: {(folder / 'redis.log').read_text()}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        _wait("redis-server", up, 15)
        yield url
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def redis_client(redis_url: str) -> Iterator["redis.Redis[bytes]"]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def write_identity_model(path: Path) -> None:
    """An ONNX model with one Identity per served dtype: `x_<dtype>` [batch, n_<dtype>] → `y_<dtype>`."""
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        need(False, "the onnx package is not installed (pip install 'cluster-serving-client[test]')")

    elem = {
        "float32": TensorProto.FLOAT,
        "float64": TensorProto.DOUBLE,
        "int32": TensorProto.INT32,
        "int64": TensorProto.INT64,
        "uint8": TensorProto.UINT8,
        "bool": TensorProto.BOOL,
    }
    nodes = [helper.make_node("Identity", [f"x_{n}"], [f"y_{n}"], name=f"identity_{n}") for n in DTYPE_NAMES]
    inputs = [helper.make_tensor_value_info(f"x_{n}", elem[n], ["batch", f"n_{n}"]) for n in DTYPE_NAMES]
    outputs = [helper.make_tensor_value_info(f"y_{n}", elem[n], ["batch", f"n_{n}"]) for n in DTYPE_NAMES]
    graph = helper.make_graph(nodes, "identity_all_dtypes", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="cluster-serving-tests")
    model.ir_version = 8  # readable by every onnxruntime the server may use
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@dataclass
class Job:
    name: str
    stream: str
    partitions: int


@dataclass
class Cluster:
    redis_url: str
    rest_url: str
    tiny_model: Path
    identity_model: Path
    tiny: Job
    identity: Job
    parts: Job
    topn: Job
    prefix: str
    logs: Dict[str, Path] = field(default_factory=dict)

    def queue(self, job: Job) -> InputQueue:
        return InputQueue(self.redis_url, stream=job.stream, partitions=job.partitions)

    def diagnostics(self) -> str:
        return "\n".join(f"--- {name} ---\n{path.read_text(errors='replace')[-4000:]}" for name, path in self.logs.items() if path.exists())


def _topology(job: Job, model: Path, postprocess: str = "none") -> str:
    return (
        f"name: {job.name}\n"
        "source:\n"
        "  type: redis\n"
        f"  stream: {job.stream}\n"
        f"  partitions: {job.partitions}\n"
        "  protocol: native\n"
        "decode:\n"
        "  type: tensor\n"
        "batch:\n"
        "  maxSize: 32\n"
        "  maxDelayMs: 1\n"
        "model:\n"
        f"  path: {model}\n"
        "  runtime: onnx\n"
        "  threads: 1\n"
        "  instances: 1\n"
        f"postprocess: {postprocess}\n"
        "sink:\n"
        "  type: redis\n"
        "  resultTtlMs: 600000\n"
        "parallelism: 1\n"
    )


def tiny_input(rows: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, 16)).astype(np.float32)


def identity_inputs(rows: int = 1, **overrides: np.ndarray) -> Dict[str, np.ndarray]:
    """One small tensor of every dtype (all the identity model's inputs), `overrides` by dtype name."""
    rng = np.random.default_rng(rows)
    base = {
        "float32": rng.standard_normal((rows, 3)).astype(np.float32),
        "float64": rng.standard_normal((rows, 2)),
        "int32": rng.integers(-(2**31), 2**31 - 1, (rows, 4), dtype=np.int32),
        "int64": rng.integers(-(2**63), 2**63 - 1, (rows, 2), dtype=np.int64),
        "uint8": rng.integers(0, 256, (rows, 5), dtype=np.uint8),
        "bool": rng.integers(0, 2, (rows, 3)).astype(bool),
    }
    base.update(overrides)
    return {f"x_{n}": base[n] for n in DTYPE_NAMES}


def wait_until_serving(queue: InputQueue, inputs: Dict[str, np.ndarray], cluster_logs: Callable[[], str], timeout: float = 90.0) -> None:
    """Sends predicts (2 s deadline each) until one is answered."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            queue.predict(inputs, timeout=2.0)
            return
        except ClusterServingError as err:
            if err.code != "CS_ERR_TIMEOUT" or time.monotonic() > deadline:
                raise AssertionError(f"{queue.stream} is not serving: {err}\n{cluster_logs()}") from err


@pytest.fixture(scope="session")
def cluster(repo: Path, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A real server: `cs start` on the tiny model, plus a second TaskManager serving an identity model of
    every dtype, the tiny model on 3 partitions, and the tiny model with a top-3 postprocess (each submitted
    with `cs job submit`)."""
    work = tmp_path_factory.mktemp("cluster")
    cs = [shutil.which("node") or "node", str(repo / "bin" / "cs.js")]
    generated = subprocess.run(cs + ["model", "generate", "--dir", str(work / "models")], capture_output=True, text=True, cwd=repo, timeout=120)
    assert generated.returncode == 0, generated.stderr
    tiny_model = work / "models" / "tiny.onnx"
    assert tiny_model.is_file(), generated.stdout
    identity_model = work / "models" / "identity.onnx"
    write_identity_model(identity_model)

    prefix = f"pytest-{uuid.uuid4().hex[:8]}"
    tiny = Job(f"{prefix}-tiny", f"{prefix}-tiny", 1)
    identity = Job(f"{prefix}-identity", f"{prefix}-identity", 1)
    parts = Job(f"{prefix}-parts", f"{prefix}-parts", 3)
    topn = Job(f"{prefix}-topn", f"{prefix}-topn", 1)
    files = {}
    for job, model, post in (
        (tiny, tiny_model, "none"),
        (identity, identity_model, "none"),
        (parts, tiny_model, "none"),
        (topn, tiny_model, "{ type: topN, n: 3 }"),
    ):
        files[job.name] = work / f"{job.name}.yaml"
        files[job.name].write_text(_topology(job, model, post))

    procs: List[subprocess.Popen[bytes]] = []
    logs: Dict[str, Path] = {}

    def spawn(name: str, args: List[str]) -> "subprocess.Popen[bytes]":
        logs[f"{name} stdout"] = work / f"{name}.out"
        logs[f"{name} stderr"] = work / f"{name}.err"
        with open(logs[f"{name} stdout"], "wb") as out, open(logs[f"{name} stderr"], "wb") as err:
            proc = subprocess.Popen(cs + args, stdout=out, stderr=err, cwd=repo, start_new_session=True)
        procs.append(proc)
        return proc

    def diagnostics() -> str:
        return "\n".join(f"--- {n} ---\n{p.read_text(errors='replace')[-4000:]}" for n, p in logs.items() if p.exists())

    timing = ["--heartbeat-interval-ms", "200", "--heartbeat-timeout-ms", "3000"]
    start = spawn("cs-start", ["start", str(files[tiny.name]), "--port", "0", "--redis", redis_url, "--cache-dir", str(work / "cache-start")] + timing)
    try:

        def started() -> bool:
            if start.poll() is not None:
                raise AssertionError(f"cs start exited with {start.returncode}\n{diagnostics()}")
            return "ready;" in logs["cs-start stdout"].read_text()

        _wait("cs start to be running", started, 60, diagnostics)
        rest_lines = [line for line in logs["cs-start stdout"].read_text().splitlines() if line.startswith("REST")]
        assert rest_lines, diagnostics()
        rest_url = rest_lines[0].split()[1]

        spawn("taskmanager", ["taskmanager", "start", "--jobmanager", rest_url, "--redis", redis_url, "--slots", "3", "--cache-dir", str(work / "cache-tm")])
        for job in (identity, parts, topn):
            submitted = subprocess.run(cs + ["job", "submit", str(files[job.name]), "--jobmanager", rest_url], capture_output=True, text=True, cwd=repo, timeout=60)
            assert submitted.returncode == 0, f"cs job submit {job.name}: {submitted.stderr}\n{diagnostics()}"

        c = Cluster(redis_url, rest_url, tiny_model, identity_model, tiny, identity, parts, topn, prefix, logs)
        for job, inputs in ((tiny, {"input": tiny_input()}), (identity, identity_inputs()), (parts, {"input": tiny_input()}), (topn, {"input": tiny_input()})):
            with c.queue(job) as q:
                wait_until_serving(q, inputs, diagnostics)
        yield c
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if proc is start else signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if os.environ.get("CS_TEST_REDIS_URL"):
            # A shared Redis: remove this session's streams and results (job state is the JobManager's).
            client = redis.Redis.from_url(redis_url)
            try:
                keys = list(client.scan_iter(match=f"{prefix}-*", count=1000))
                if keys:
                    client.unlink(*keys)
            finally:
                client.close()

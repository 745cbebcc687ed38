"""A real cluster for the BigDL client tests: redis-server, `cs jobmanager start`, `cs taskmanager start`
and six BigDL-protocol jobs, started once per session from the built repository (CS_REPO_ROOT)."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("CS_REPO_ROOT", Path(__file__).resolve().parents[3]))
CS = [shutil.which("node") or "node", str(ROOT / "bin" / "cs.js")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, seconds, what):
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            if predicate():
                return
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}: {last}")


@pytest.fixture(scope="session")
def cluster():
    tmp = Path(tempfile.mkdtemp(prefix="cs-bigdl-"))
    procs = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env.update(CS_LOG_LEVEL="warn", CS_HEARTBEAT_INTERVAL_MS="200", CS_HEARTBEAT_TIMEOUT_MS="3000")
    redis_url = os.environ.get("CS_TEST_REDIS_URL")
    try:
        if not redis_url:
            port = free_port()
            procs.append(subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                           "--dir", str(tmp), "--maxmemory", "0"], stdout=subprocess.DEVNULL))
            redis_url = f"redis://127.0.0.1:{port}"
        from urllib.parse import urlparse
        parsed = urlparse(redis_url)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
        models = tmp / "models"
        subprocess.run(CS + ["model", "generate", "--dir", str(models)], check=True, env=env, capture_output=True)
        subprocess.run([CS[0], str(Path(__file__).resolve().parent / "layout_models.js"), str(models)], check=True, env=env, capture_output=True)
        jm_port = free_port()
        jm = f"http://127.0.0.1:{jm_port}"
        procs.append(subprocess.Popen(CS + ["jobmanager", "start", "--port", str(jm_port), "--redis", redis_url, "--cache-dir", str(tmp / "jm")], env=env))
        wait(lambda: urllib.request.urlopen(jm + "/jobs").status == 200, 30, "the JobManager")
        procs.append(subprocess.Popen(CS + ["taskmanager", "start", "--jobmanager", jm, "--redis", redis_url, "--slots", "8", "--cache-dir", str(tmp / "tm")], env=env))
        jobs = {
            "serving_stream": f"source: {{ type: redis, protocol: bigdl }}\nmodel: {{ path: {models / 'tiny.onnx'} }}\n",
            "zoo_stream": f"source: {{ type: redis, protocol: bigdl, bigdlConvention: '0.11' }}\nmodel: {{ path: {models / 'tiny.onnx'} }}\n",
            "topn_stream": f"source: {{ type: redis, protocol: bigdl }}\nmodel: {{ path: {models / 'tiny.onnx'} }}\npostprocess: {{ type: topN, n: 3 }}\n",
            # Images to models of either layout from the 0.11 client; the topologies name no layout.
            "zoo_nhwc_stream": f"source: {{ type: redis, protocol: bigdl, bigdlConvention: '0.11' }}\nmodel: {{ path: {models / 'channel_means_nhwc.onnx'} }}\n",
            "zoo_nchw_stream": f"source: {{ type: redis, protocol: bigdl, bigdlConvention: '0.11' }}\nmodel: {{ path: {models / 'channel_means_nchw.onnx'} }}\n",
            "image_stream": f"source: {{ type: redis, protocol: bigdl }}\ndecode: {{ type: image, width: 224, height: 224 }}\nbatch: {{ maxSize: 4, maxDelayMs: 1 }}\nmodel: {{ path: {models / 'cnn.onnx'}, threads: 2 }}\n",
        }
        for name, body in jobs.items():
            f = tmp / f"{name}.yaml"
            f.write_text(f"name: {name}\n{body}batch: {{ maxSize: 16, maxDelayMs: 1 }}\n" if "batch" not in body else f"name: {name}\n{body}")
            subprocess.run(CS + ["job", "submit", str(f), "--jobmanager", jm], check=True, env=env, capture_output=True)

        def all_running():
            data = json.load(urllib.request.urlopen(jm + "/jobs"))
            return len(data["jobs"]) == len(jobs) and all(j["state"] == "RUNNING" for j in data["jobs"])

        wait(all_running, 60, f"{len(jobs)} RUNNING jobs")
        yield {"host": host, "port": int(port), "models": models, "tmp": tmp}
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)

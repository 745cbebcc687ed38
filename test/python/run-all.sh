#!/usr/bin/env bash
# Every Python suite, each in its own venv, against the real server (run after `npm run build`):
# the native Python client, the unmodified BigDL clients in the environment where all of their calls work
# (numpy < 1.25 …, reference/bigdl-protocol.md) and with the newest numpy/pyarrow/opencv, and
# tritonclient[http,grpc] against the KServe v2 HTTP and gRPC endpoints.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/run-pytest.sh"
bash "$HERE/run-compat.sh" bigdl-old "bigdl-serving==2.4.0 analytics-zoo-serving==0.11.2 numpy<1.25 pyarrow<20 opencv-python<4.11 redis pytest onnxruntime" "$HERE/bigdl"
bash "$HERE/run-compat.sh" bigdl-new "bigdl-serving==2.4.0 analytics-zoo-serving==0.11.2 numpy pyarrow opencv-python-headless redis pytest onnxruntime" "$HERE/bigdl"
if [ -d "$HERE/kserve" ]; then
  bash "$HERE/run-compat.sh" kserve "tritonclient[http,grpc] onnxruntime numpy pytest" "$HERE/kserve"
fi

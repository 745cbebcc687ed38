#!/usr/bin/env bash
# Creates (once) the venv that the `cs model import --from savedmodel` test converts with:
#   test/python/ensure-tf-venv.sh            → <repo>/.venv-tf with tensorflow-cpu + tf2onnx
# Idempotent: reinstalls only when the requirement list below changes (stamp file <venv>/.requirements),
# recreates the venv when its interpreter is broken. Prints the venv's python path on its last line.
# TensorFlow is a big download (~250 MB of wheels); the venv is meant to be cached between CI runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${CS_TF_VENV:-$ROOT/.venv-tf}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS="tensorflow-cpu==2.21.* tf2onnx==1.17.* numpy"

if [ -e "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then rm -rf "$VENV"; fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "ensure-tf-venv: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.requirements"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$REQUIREMENTS" ]; then
  echo "ensure-tf-venv: installing into $VENV: $REQUIREMENTS" >&2
  # shellcheck disable=SC2086 # the requirements are a word list on purpose
  "$VENV/bin/python" -m pip --disable-pip-version-check --no-input -q install $REQUIREMENTS >&2
  "$VENV/bin/python" -c 'import tensorflow, tf2onnx' >/dev/null 2>&1 || {
    echo "ensure-tf-venv: tensorflow/tf2onnx do not import in $VENV" >&2
    exit 1
  }
  echo "$REQUIREMENTS" >"$STAMP"
fi
echo "$VENV/bin/python"

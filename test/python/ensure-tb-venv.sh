#!/usr/bin/env bash
# Creates (once) the venv whose TensorBoard reads back the event files the TensorBoard tests write:
#   test/python/ensure-tb-venv.sh   → ${CS_TB_VENV:-~/.cache/cluster-serving/venv-tb} with PyPI's tensorboard
# Kept outside the clone so later runs (and other clones) on the same machine reuse it. Idempotent:
# reinstalls only when the requirement list below changes (stamp file <venv>/.requirements), recreates
# the venv when its interpreter is broken. Prints the venv's python path on its last line.
set -euo pipefail
VENV="${CS_TB_VENV:-${HOME}/.cache/cluster-serving/venv-tb}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS="tensorboard==2.21.*"

if [ -e "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then rm -rf "$VENV"; fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "ensure-tb-venv: creating $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.requirements"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$REQUIREMENTS" ]; then
  echo "ensure-tb-venv: installing into $VENV: $REQUIREMENTS" >&2
  # shellcheck disable=SC2086 # the requirements are a word list on purpose
  "$VENV/bin/python" -m pip --disable-pip-version-check --no-input -q install $REQUIREMENTS >&2
  "$VENV/bin/python" -c 'from tensorboard.backend.event_processing import event_accumulator' >/dev/null 2>&1 || {
    echo "ensure-tb-venv: tensorboard does not import in $VENV" >&2
    exit 1
  }
  echo "$REQUIREMENTS" >"$STAMP"
fi
echo "$VENV/bin/python"

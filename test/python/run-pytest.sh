#!/usr/bin/env bash
# Runs the Python client's tests (clients/python/tests) against the real server.
#
# Needs: the repository built (`npx tsc -p .`), node, redis-server on PATH (or CS_TEST_REDIS_URL), python3
# with venv, and PyPI the first time (or whenever clients/python changes). Creates or reuses a venv
# (default <repo>/.venv-test, or CS_PYTHON_VENV) and installs clients/python[test] into it; when nothing
# under clients/python/src or pyproject.toml changed since, pip is not run at all.
#
# Extra arguments go to pytest, e.g. `test/python/run-pytest.sh -k partition -x`.
# Missing prerequisites fail the run (CS_TEST_STRICT=1) instead of skipping tests; collecting no tests
# (pytest's exit code 5) is a failure too.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLIENT="$ROOT/clients/python"
VENV="${CS_PYTHON_VENV:-$ROOT/.venv-test}"
PYTHON="${PYTHON:-python3}"

if [ ! -f "$ROOT/dist/src/protocol/native/native-codec.js" ]; then
  echo "run-pytest: the repository is not built; run \`npx tsc -p .\` first" >&2
  exit 1
fi

# A venv whose interpreter no longer runs (Python upgraded or moved) is rebuilt.
if [ -e "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "run-pytest: $VENV is broken; recreating it" >&2
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "run-pytest: creating $VENV with $("$PYTHON" --version 2>&1)"
  if ! "$PYTHON" -m venv "$VENV"; then
    rm -rf "$VENV"
    echo "run-pytest: \`$PYTHON -m venv\` failed (on Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
fi

# Reinstall only when the client's sources or metadata changed.
STAMP="$VENV/.cluster-serving-client.sha256"
WANT="$(
  cd "$CLIENT"
  { echo "$("$VENV/bin/python" -c 'import sys; print(sys.version)')"
    find pyproject.toml README.md src -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "run-pytest: installing clients/python[test] into $VENV"
  PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input -q)
  "${PIP[@]}" install 'hatchling>=1.18'
  # No build isolation: the wheel is built with the venv's hatchling, no fresh download per build.
  "${PIP[@]}" install --no-build-isolation "$CLIENT[test]"
  "${PIP[@]}" install --no-build-isolation --no-deps --force-reinstall "$CLIENT"
  echo "$WANT" >"$STAMP"
fi

cd "$CLIENT"
set +e
CS_TEST_STRICT="${CS_TEST_STRICT:-1}" CS_REPO_ROOT="$ROOT" "$VENV/bin/python" -m pytest -ra "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "run-pytest: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"

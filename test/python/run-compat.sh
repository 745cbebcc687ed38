#!/usr/bin/env bash
# Runs a pytest suite of real PyPI clients against the real server, in a venv of its own:
#   test/python/run-compat.sh <venv name> "<pip requirements>" <pytest args...>
# The venv (<repo>/.venv-<name>) is created once and reinstalled only when the requirements change.
# Missing prerequisites fail the run (CS_TEST_STRICT=1); pytest's exit code 5 (no tests) is a failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NAME="$1"; REQUIREMENTS="$2"; shift 2
VENV="$ROOT/.venv-$NAME"
PYTHON="${PYTHON:-python3}"

if [ ! -f "$ROOT/dist/src/cli/main.js" ]; then
  echo "run-compat: the repository is not built; run \`npx tsc -p .\` first" >&2
  exit 1
fi
if [ -e "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then rm -rf "$VENV"; fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "run-compat: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.requirements"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$REQUIREMENTS" ]; then
  echo "run-compat: installing into $VENV: $REQUIREMENTS"
  # shellcheck disable=SC2086 # the requirements are a word list on purpose
  "$VENV/bin/python" -m pip --disable-pip-version-check --no-input -q install $REQUIREMENTS
  echo "$REQUIREMENTS" >"$STAMP"
fi
set +e
CS_TEST_STRICT="${CS_TEST_STRICT:-1}" CS_REPO_ROOT="$ROOT" "$VENV/bin/python" -m pytest -q -ra -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "run-compat: pytest collected no tests" >&2; exit 1; fi
exit "$rc"

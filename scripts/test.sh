#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs every check: lint, types, unit,
# behaviour (in-memory and real Kafka), integration tests. Non-zero on any failure.
# The tests start a Kafka broker and a PostgreSQL of their own (home ~/.cache/baton-test,
# ports 18092 and 18432; tests/stack.py) and stop them at the end: `baton stack up`'s
# stack, the demo's, is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
scripts/browser.sh   # Debian's Chromium for the dashboard's browser tests
echo "== lint and types"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
scripts/deploy-check.sh
echo "== tests"
.venv/bin/pytest --durations=25 "$@"   # the slowest tests, to keep CI under 20 minutes

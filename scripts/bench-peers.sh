#!/usr/bin/env bash
# Baton and DBOS Transact side by side on this machine and one PostgreSQL server:
# installs the `peers` dependency group (DBOS), starts the local stack unless
# BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN point elsewhere, then runs `python -m bench.peers`
# with the arguments given (see --help). The table goes to stdout, progress to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$HOME/.local/bin:$PATH" UV_PYTHON_DOWNLOADS=never
command -v uv >/dev/null 2>&1 || scripts/bootstrap.sh >&2
uv sync --frozen --extra all --group peers >&2
.venv/bin/baton stack up >&2
exec .venv/bin/python -m bench.peers "$@"

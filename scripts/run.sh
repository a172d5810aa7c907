#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs Baton locally: Kafka and PostgreSQL
# (started here unless BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN point elsewhere), the topics,
# the migrations, then the demo: the five services, agent workers and seed 002's scenarios.
# Pass --once to exit when the scenarios end (--json: the summary as JSON on stdout).
set -euo pipefail
cd "$(dirname "$0")/.."

# Set-up output goes to stderr: stdout is the demo's (its --json summary for scripts).
scripts/bootstrap.sh >&2
.venv/bin/baton stack up >&2
.venv/bin/baton topics create >&2
.venv/bin/baton db migrate >&2
exec .venv/bin/baton demo "$@"

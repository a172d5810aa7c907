#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs Baton locally: Kafka and PostgreSQL
# (started here unless BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN point elsewhere), the topics,
# then the demo scenario. Pass --once to exit when the demo ends.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
.venv/bin/baton stack up
.venv/bin/baton topics create
.venv/bin/baton db migrate
exec .venv/bin/baton demo "$@"

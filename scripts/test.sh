#!/usr/bin/env bash
# Sets up everything on a fresh machine and runs every check: lint, types, unit,
# behaviour (in-memory and real Kafka), integration, end-to-end and fault tests. Non-zero
# on any failure.
#
# The tests start a Kafka broker and a PostgreSQL of their own (home ~/.cache/baton-test,
# ports 18092 and 18432; tests/stack.py) and stop them at the end: `baton stack up`'s
# stack, the demo's, is left alone. They run as two pytest sessions at the same time
# (15 to 18 instead of 23 minutes on two cores, within CI's time), each on a stack of its
# own: the fault scenarios (tests/faults: services, the broker and the database killed
# mid-run; several minutes), then the integration, security and behaviour tests, on a
# second stack (~/.cache/baton-test-faults, ports 18192 and 18532); the checks and every
# other test on the first. BATON_TEST_SESSIONS=1 runs them all in one session instead
# (slower; one report, one stack).
#
# With arguments, they go to one pytest run instead (e.g. `./scripts/test.sh tests/unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
sessions="${BATON_TEST_SESSIONS:-2}"
if [[ "$sessions" != "1" && "$sessions" != "2" ]]; then
    echo "BATON_TEST_SESSIONS is 1 or 2 (default 2), not '$sessions'" >&2
    exit 2
fi

scripts/bootstrap.sh
scripts/browser.sh   # Debian's Chromium for the dashboard's browser tests

if [[ $# -gt 0 ]]; then
    exec .venv/bin/pytest "$@"
fi
if [[ "$sessions" == "1" ]]; then
    echo "== lint and types"
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    .venv/bin/mypy
    scripts/deploy-check.sh
    echo "== tests"
    exec .venv/bin/pytest --durations=25   # the slowest tests, to keep CI short
fi

faults_home="${BATON_TEST_FAULTS_HOME:-$HOME/.cache/baton-test-faults}"
echo "== the tests' stack (PostgreSQL installed and Kafka's jars fetched the first time)"
.venv/bin/python -m tests.stack prepare "$faults_home"

faults_log=$(mktemp -t baton-faults.XXXXXX)
echo "== fault scenarios, integration, security and behaviour tests (a second stack; output at the end)"
BATON_TEST_HOME="$faults_home" \
BATON_TEST_KAFKA_PORT="${BATON_TEST_FAULTS_KAFKA_PORT:-18192}" \
BATON_TEST_PG_PORT="${BATON_TEST_FAULTS_PG_PORT:-18532}" \
    .venv/bin/pytest tests/faults tests/integration tests/security tests/behaviour --durations=10 \
    >"$faults_log" 2>&1 &
faults=$!
# Never leave the fault run or a stack behind (Ctrl-C, or a failure below).
cleanup() {
    kill -INT "$faults" 2>/dev/null || true
    wait "$faults" 2>/dev/null || true
    .venv/bin/python -m tests.stack release || true
}
trap cleanup EXIT

checks() {
    echo "== lint and types" &&
    .venv/bin/ruff check . &&
    .venv/bin/ruff format --check . &&
    .venv/bin/mypy &&
    scripts/deploy-check.sh &&
    echo "== tests" &&
    # the slowest, to keep CI short
    .venv/bin/pytest --ignore=tests/faults --ignore=tests/integration --ignore=tests/security \
        --ignore=tests/behaviour --durations=25
}
status=0
checks || status=$?

faults_status=0
wait "$faults" || faults_status=$?
trap - EXIT
.venv/bin/python -m tests.stack release || true
echo "== fault scenarios, integration, security and behaviour tests: output"
cat "$faults_log"
rm -f "$faults_log"
echo "== checks and tests: exit $status; fault, integration, security, behaviour: exit $faults_status"
if [[ $status -ne 0 || $faults_status -ne 0 ]]; then
    exit 1
fi

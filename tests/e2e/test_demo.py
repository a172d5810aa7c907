"""README's run command, as written: ``./scripts/run.sh --once`` completes the demo scenarios.

It sets everything up (bootstrap, stack, topics, migrations), starts the five services as
supervised processes and four agent workers, runs the three scenarios and exits 0. Its
output, piped as here, is readable without a terminal: whole ids and statuses, no address
of a dashboard that closes at exit, no ERROR line. SIGTERM stops the demo cleanly, and
no service outlives it, even killed outright.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from baton.config import BatonSettings
from baton.protocol.fields import TERMINAL_STATUSES
from tests.e2e.harness import Cluster
from tests.e2e.test_helpers_cli import baton

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


async def test_run_command_completes_the_three_scenarios(
    e2e_env: dict[str, str], log_dir: Path
) -> None:
    env = {key: value for key, value in e2e_env.items() if key != "COLUMNS"}
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / "run.sh"),
        "--once",
        "--json",
        env=env,
        stdout=PIPE,
        stderr=PIPE,
        cwd=ROOT,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 400)
    (log_dir / "demo.out").write_bytes(stderr)
    assert proc.returncode == 0, stderr.decode(errors="replace")[-4000:]
    rows = {row["workflow_id"].rsplit("_", 1)[0]: row for row in json.loads(stdout)}
    assert set(rows) == {
        "feature_dev_001",
        "bug_fix_002",
        "impl_auth_001",
        "microservices_migration_001",
    }
    assert all(row["status"] == "COMPLETED" for row in rows.values()), rows
    # Coordination: the bug fix waited for the feature's agents.
    assert rows["bug_fix_002"]["queued"] is True
    # Parallel tracks: 3 research + plan + 3 implementation + tests + docs.
    assert rows["impl_auth_001"]["tasks_completed"] >= 9
    assert rows["impl_auth_001"]["phases"] == "5/5"
    # Recovery: the migration failed, was retried, restored from a checkpoint, completed.
    migration = rows["microservices_migration_001"]
    assert migration["restored"] is True
    assert migration["task_failures"] >= 1
    text = stderr.decode(errors="replace")
    assert "Summary" in text
    # Piped, the tables keep whole ids and statuses, one row per line.
    table_lines = [line for line in text.splitlines() if line.startswith("│")]
    assert not any("…" in line for line in table_lines), table_lines
    for row in rows.values():
        shown = [line for line in table_lines if f"│ {row['workflow_id']} " in line]
        assert len(shown) == 2, (row["workflow_id"], table_lines)  # live table and summary
        assert all("COMPLETED" in line for line in shown), shown
    assert "restored ckpt_microservices_migration_001_" in text  # a long note, unfolded
    # --once stops the dashboard with the services: its address would be a dead link.
    assert "Dashboard" not in text
    assert "http://127.0.0.1:" not in text
    assert_no_error_lines(text)
    assert "→" in text  # the malformed line was kept in the dead-letter topic, with its reason
    assert ".events.dlq: ProtocolError (phase)" in text
    logs = BatonSettings.from_env(e2e_env).home / "demo" / "logs"
    for service in ("resource", "hub", "recovery", "status", "monitor"):
        assert (logs / f"{service}.log").exists()
        assert_no_error_lines((logs / f"{service}.log").read_text(errors="replace"))
    # Hub and status service say the same of every workflow (issue 16.2: the restored
    # migration was COMPLETED in the hub, FAILED at "1 of 3 phases" in workflow-status).
    async with Cluster(["hub", "status"], env=e2e_env, log_dir=log_dir):
        for row in rows.values():
            await _hub_and_status_agree(e2e_env, row["workflow_id"])


async def _hub_and_status_agree(env: dict[str, str], workflow_id: str) -> None:
    code, held, err = await baton(env, "coordination-hub", workflow_id, "status")
    assert code == 0, err
    code, shown, err = await baton(env, "workflow-status", workflow_id, "--json")
    assert code == 0, err
    state = held["workflow"]
    done = sum(1 for p in state["phases"] if p["status"] in ("completed", "skipped"))
    assert (shown["status"], shown["phases_done"], shown["phases_total"]) == (
        state["status"],
        done,
        len(state["phases"]),
    ), workflow_id
    if state["status"] == "COMPLETED":
        assert shown["progress"] == 100.0, workflow_id


def assert_no_error_lines(text: str) -> None:
    """A healthy run logs nothing at ERROR (nor CRITICAL), and no traceback."""
    bad = [
        line
        for line in text.splitlines()
        if " ERROR " in line or " CRITICAL " in line or "Traceback" in line
    ]
    assert not bad, bad[:10]


def children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def start_demo(
    env: dict[str, str], *, until: str = "5 services ready"
) -> tuple[asyncio.subprocess.Process, set[int], list[str]]:
    """``baton demo`` (no --once), output piped; returns once a line holds ``until`` (by
    default: its five services are ready), with the services' pids and the output so far."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "baton", "demo", env=env, stdout=PIPE, stderr=PIPE, cwd=ROOT
    )
    assert proc.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(120):
        while not any(until in line for line in seen):
            line = await proc.stdout.readline()
            assert line, f"the demo ended early: {seen}"
            seen.append(line.decode(errors="replace"))
    services = children(proc.pid)
    assert len(services) == 5, services
    return proc, services, seen


async def test_sigterm_stops_the_demo_and_every_service_without_a_traceback(
    e2e_env: dict[str, str], log_dir: Path
) -> None:
    # Mid-scenario: the first two workflows exist, one of them queued for agents.
    proc, services, seen = await start_demo(e2e_env, until="created bug_fix_002_")
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 90)
    text = "".join(seen) + stdout.decode(errors="replace") + stderr.decode(errors="replace")
    (log_dir / "demo-sigterm.out").write_text(text)
    assert proc.returncode == 128 + signal.SIGTERM, text[-3000:]
    assert "stopped by SIGTERM" in text
    assert "CancelledError" not in text
    assert_no_error_lines(text)
    assert not [pid for pid in services if alive(pid)]
    # Nothing it started is left holding the agent pool: a next run would queue behind it.
    created = re.findall(r"^created (\S+):", text, flags=re.MULTILINE)
    assert len(created) == 2, created
    async with Cluster(["hub"], env=e2e_env, log_dir=log_dir):
        for workflow_id in created:
            code, held, err = await baton(e2e_env, "coordination-hub", workflow_id, "status")
            assert code == 0, err
            assert held["workflow"]["status"] in TERMINAL_STATUSES, (workflow_id, held)


async def test_no_service_outlives_a_demo_killed_outright(
    e2e_env: dict[str, str], log_dir: Path
) -> None:
    proc, services, _ = await start_demo(e2e_env)
    os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()
    for _ in range(120):  # each stops gracefully, as on SIGTERM: within a minute
        if not [pid for pid in services if alive(pid)]:
            break
        await asyncio.sleep(0.5)
    left = [pid for pid in services if alive(pid)]
    for pid in left:  # leave no process behind, whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert not left

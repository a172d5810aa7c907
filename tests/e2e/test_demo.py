"""README's run command, as written: ``./scripts/run.sh --once`` completes seed 002's scenarios.

It sets everything up (bootstrap, stack, topics, migrations), starts the five services as
supervised processes and four agent workers, runs the three scenarios and exits 0.
"""

from __future__ import annotations

import asyncio
import json
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from baton.config import BatonSettings
from tests.e2e.harness import Cluster
from tests.e2e.test_helpers_cli import baton

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


async def test_run_command_completes_the_three_scenarios(
    e2e_env: dict[str, str], log_dir: Path
) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / "run.sh"),
        "--once",
        "--json",
        env={**e2e_env, "COLUMNS": "160"},
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
    assert "Dashboard: http://127.0.0.1:" in text
    assert "→" in text  # the malformed line was kept in the dead-letter topic, with its reason
    assert ".events.dlq: ProtocolError (phase)" in text
    logs = BatonSettings.from_env(e2e_env).home / "demo" / "logs"
    for service in ("resource", "hub", "recovery", "status", "monitor"):
        assert (logs / f"{service}.log").exists()
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

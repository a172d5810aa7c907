"""The helper commands added for seeds 000 and 002, against all five running services."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import BATON, Cluster
from tests.e2e.test_helpers_cli import baton

pytestmark = [pytest.mark.integration, pytest.mark.timeout(480)]


async def until_ok(env: dict[str, str], *args: str, within: float = 60.0) -> Any:
    """Run until exit 0 (the read model and the monitor follow events a little behind)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        code, out, err = await baton(env, *args)
        if code == 0:
            return out
        assert loop.time() < deadline, f"{args} kept failing: {code} {err}"
        await asyncio.sleep(1.0)


async def subscribe(env: dict[str, str], workflow_id: str) -> tuple[int, list[Any], str]:
    proc = await asyncio.create_subprocess_exec(
        *BATON,
        "workflow-status",
        workflow_id,
        "--subscribe",
        '--events=["state_change",',  # as bash splits the seed's unquoted list
        '"checkpoint",',
        '"error"]',
        "--from-beginning",
        "--max",
        "2",
        "--timeout",
        "60",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return proc.returncode or 0, lines, err.decode()


async def test_seed_helpers_against_all_services(e2e_env: dict[str, str], log_dir: Path) -> None:
    env = {**e2e_env, "BATON_RESOURCE_POOLS": '{"agents": 8}'}
    names = ["resource", "hub", "status", "monitor", "recovery"]
    async with Cluster(names, env=env, log_dir=log_dir):
        wf, nxt = "research_auth_001", "planning_auth_001"
        # 002:220 create-workflow WF --priority=high
        code, created, err = await baton(
            env, "coordination-hub", "create-workflow", wf, "--priority=high",
            "--phases", "research,review", "--agents", "2",
        )  # fmt: skip
        assert code == 0, err
        assert created["status"] in ("STARTED", "SCHEDULED")
        # 000 publish-event
        event = {"event_type": "RESEARCH_STARTED", "workflow_id": wf, "phase": "research",
                 "data": {"agents": 2}}  # fmt: skip
        code, ack, err = await baton(env, "coordination-hub", "publish-event", json.dumps(event))
        assert code == 0, err
        assert ack["routing_key"] == f"research.{wf}.started"
        # 002:85 --subscribe: the seed's line as the shell passes it
        code, lines, err = await subscribe(env, wf)
        assert code == 0, err
        assert len(lines) == 2
        assert all(wf == line["workflow_id"] for line in lines)
        assert lines[0]["event_type"] == "WORKFLOW_CREATED"
        # 000 allocate with the request envelope: repeating it is applied once
        envelope = json.dumps(
            {
                "operation": "allocate",
                "data": {"workflow_id": "manual_1", "requirements": {"agents": 1},
                         "priority": "low", "estimated_duration": "30m"},
                "metadata": {},
                "timestamp": "2025-01-01T00:00:00Z",
                "request_id": "req_envelope_1",
            }
        )  # fmt: skip
        code, first, err = await baton(env, "resource-manager", "allocate", envelope)
        assert code == 0, err
        code, again, err = await baton(env, "resource-manager", "allocate", envelope)
        assert code == 0, err
        alloc = first["allocation_response"]["allocated_resources"]["allocation_id"]
        assert again["allocation_response"]["allocated_resources"]["allocation_id"] == alloc
        # 002:221 allocate WF --agents --specialization
        code, other, err = await baton(
            env, "resource-manager", "allocate", "manual_2", "--agents=1",
            "--specialization=research",
        )  # fmt: skip
        assert code == 0, err
        assert "specialization" in other["ignored"]
        # 002:128 the loose seed form
        loose = {"workflow_id": "complex_feature_001", "workflow_type": "feature_development",
                 "time_constraints": {"deadline": "2d", "priority": "high"}}  # fmt: skip
        code, answer, err = await baton(env, "resource-manager", "allocate", json.dumps(loose))
        assert code == 0, err
        assert answer["allocation_response"]["status"] == "approved"
        # 002:244 transition with context
        context = json.dumps({"updates": {"findings": "jwt"}})
        assert (await baton(env, "coordination-hub", wf, "context", context))[0] == 0
        definition = {"workflow_id": nxt, "name": "plan", "phases": ["planning"],
                      "resource_requirements": {"agents": 1}}  # fmt: skip
        code, _, err = await baton(
            env, "coordination-hub", "create-workflow", json.dumps(definition)
        )
        assert code == 0, err
        code, moved, err = await baton(
            env, "resource-manager", "transition", "manual_2", nxt, "--preserve-context"
        )
        assert code == 0, err
        assert moved["allocation_response"]["status"] == "approved"
        assert moved["context"]["copied"] == []  # manual_2 is no hub workflow: nothing to copy
        code, moved, err = await baton(env, "resource-manager", "transition", wf, nxt)
        assert code == 0, err
        assert moved["from_workflow_id"] == wf
        assert moved["released"]
        code, _, err = await baton(env, "resource-manager", "transition", "nobody", nxt)
        assert code == 1, err
        # 002:91 checkpoint, then 002:334 recovery-mode and 002:351 restore
        assert (await baton(env, "coordination-hub", nxt, "checkpoint", "pre_migration"))[0] == 0
        mode: dict[str, Any] = {}
        for _ in range(60):
            code, mode, err = await baton(
                env, "coordination-hub", nxt, "recovery-mode",
                '{"recovery_strategy": "checkpoint_restore"}',
            )  # fmt: skip
            assert code == 0, err
            if mode["restore_from"]:
                break
            await asyncio.sleep(1.0)
        assert mode["status"] == "PAUSED"
        assert mode["restore_from"]
        restore = json.dumps({"checkpoint_id": mode["restore_from"]})
        code, _, err = await baton(env, "coordination-hub", nxt, "restore", restore)
        assert code == 0, err
        # 002:324 handle-failure
        spec = json.dumps({"failed_component": "database_service", "impact_assessment": "medium",
                           "reallocation_strategy": "isolate_and_recover"})  # fmt: skip
        code, freed, err = await baton(env, "resource-manager", "handle-failure", "manual_1", spec)
        assert code == 0, err
        assert freed["released"] == [alloc]
        # 002:317 analyze-failure with context
        code, analysis, err = await baton(
            env, "workflow-recovery", "analyze-failure", nxt, '{"error_context": "timeout"}'
        )
        assert code == 0, err
        assert analysis["context"] == {"error_context": "timeout"}
        # read-model and monitor reports: 002:40/41/87/141/179/186/341/367/368, 002:86
        # (independent reads: asked at once, each until it answers)
        tracked = json.dumps([{"workflow_id": wf, "weight": "high", "critical_path": True},
                              {"workflow_id": "refactor_C", "weight": "low"}])  # fmt: skip
        (
            _,
            overview,
            track,
            report,
            analysed,
            efficiency,
            success,
            recovery,
            _,
        ) = await asyncio.gather(
            until_ok(env, "workflow-status", wf, "--detailed", "--include-dependencies"),
            until_ok(
                env,
                "progress-aggregator",
                "system-overview",
                "--include-conflicts",
                "--resource-analysis",
            ),
            until_ok(env, "progress-aggregator", "track-workflows", tracked),
            until_ok(
                env,
                "progress-aggregator",
                "system-report",
                '{"include": ["progress", "bottlenecks"]}',
            ),
            until_ok(
                env,
                "progress-aggregator",
                "recovery-analysis",
                nxt,
                '{"learning_for_prevention": true}',
            ),
            until_ok(env, "performance-monitor", "allocation-efficiency", wf),
            until_ok(env, "performance-monitor", "recovery-success", nxt),
            until_ok(env, "workflow-status", nxt, "--recovery-report", "--lessons-learned"),
            until_ok(env, "performance-monitor", "report", "--workflow", wf),
        )
        assert "resources" in overview
        assert track["unknown"] == ["refactor_C"]
        assert set(report) == {"at", "progress", "bottlenecks"}
        assert analysed["verdict"] == "no_failures"
        assert "other_workflows" in analysed
        assert efficiency["workflow_id"] == wf
        assert success["verdict"] == "no_failures"
        assert recovery["recovery_report"]["lessons_learned"] == []
        # 002:513 runs the fault suite (restarts the broker): only its help here
        proc = await asyncio.create_subprocess_exec(
            *BATON, "workflow-recovery", "test-scenarios", "--help", env=env,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0
        assert b"fault suite" in out

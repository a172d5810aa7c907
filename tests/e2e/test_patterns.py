"""Seed 003's patterns, exclusive files and starvation, through the real services."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from baton.bus import Bus
from tests.e2e.agents import Decision, EventLog, SimAgents
from tests.e2e.harness import Cluster
from tests.e2e.test_hub_resource import hub, until_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

RETRY = {
    "rule_id": "error_retry",
    "name": "Retry on Error",
    "condition_key": "error_count",
    "condition_operator": "<=",
    "condition_value": 3,
    "decision": "retry",
    "priority": 100,
}


def mixed(workflow_id: str) -> dict[str, object]:
    """Seed 003 pattern 3: parsers in parallel, then schema_gen on all of them."""
    parsers = [{"task_id": f"parser_{i}", "role": "parser"} for i in range(3)]
    return {
        "workflow_id": workflow_id,
        "name": "Mixed pipeline",
        "priority": "high",
        "phases": ["generate"],
        "resource_requirements": {"agents": 3, "duration": "1h"},
        "tasks": [
            *parsers,
            {
                "task_id": "schema_gen",
                "role": "schema",
                "dependencies": [p["task_id"] for p in parsers],
            },
        ],
        "rules": [RETRY],
    }


async def test_seed_003_mixed_pattern_quality_gate_and_retry_rule(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    flaky_failures: dict[str, int] = {}

    def policy(event: object) -> Decision:
        from baton.protocol.event import Event

        assert isinstance(event, Event)
        task, wf = event.data["task_id"], event.workflow_id
        if wf == "gate_001" and task == "model_gen":
            return Decision(quality_score=0.5)  # below the gate
        if wf == "retry_001" and task == "flaky":
            flaky_failures[task] = flaky_failures.get(task, 0) + 1
            return Decision("fail") if flaky_failures[task] <= 2 else Decision()
        if wf == "retry_002":
            return Decision("fail")
        return Decision(delay=0.3)

    agents.policy = policy
    agents.attach()
    events.attach()
    env = {**e2e_env, "BATON_RESOURCE_POOLS": '{"agents": 12}'}
    gate = {
        "workflow_id": "gate_001",
        "name": "Quality gate",
        "priority": "high",
        "phases": ["generate"],
        "resource_requirements": {"agents": 2, "duration": "1h"},
        "tasks": [
            {"task_id": "model_gen", "quality_gate": {"min_score": 0.8}},
            {"task_id": "validator_gen", "dependencies": ["model_gen"]},
        ],
    }
    retry = {
        "workflow_id": "retry_001",
        "name": "Retry",
        "priority": "high",
        "phases": ["work"],
        "resource_requirements": {"agents": 2, "duration": "1h"},
        "tasks": [{"task_id": "flaky"}],
        "rules": [RETRY],
    }
    limit = {
        **retry,
        "workflow_id": "retry_002",
        "rules": [{**RETRY, "condition_value": 2}],
    }  # error_count <= 2: two retries
    async with Cluster(["resource", "hub"], env=env, log_dir=log_dir), bus:
        for definition in (mixed("mixed_001"), gate, retry, limit):
            await hub(
                bus, "CREATE_WORKFLOW", str(definition["workflow_id"]), {"definition": definition}
            )
        await until_status(bus, "mixed_001", "COMPLETED")
        await until_status(bus, "retry_001", "COMPLETED")
        await until_status(bus, "retry_002", "FAILED")
        # The gate holds validator_gen back until a passing score arrives.
        await until_status(bus, "gate_001", "STARTED")
        await asyncio.sleep(1.0)
        assigned = [
            e.data["task_id"]
            for e in events.events
            if e.workflow_id == "gate_001" and e.event_type == "TASK_ASSIGNED"
        ]
        assert assigned == ["model_gen"]
        assert events.last("gate_001", "QUALITY_GATE_BLOCKED") is not None
        await hub(bus, "REPORT_QUALITY_SCORE", "gate_001", {"task_id": "model_gen", "score": 0.9})
        await until_status(bus, "gate_001", "COMPLETED")

    flow = [
        (e.event_type, e.data.get("task_id"))
        for e in events.events
        if e.workflow_id == "mixed_001" and e.event_type.startswith("TASK_")
    ]
    parser_assigned = [flow.index(("TASK_ASSIGNED", f"parser_{i}")) for i in range(3)]
    parser_done = [flow.index(("TASK_COMPLETED", f"parser_{i}")) for i in range(3)]
    schema_assigned = flow.index(("TASK_ASSIGNED", "schema_gen"))
    assert max(parser_assigned) < min(parser_done)  # all three ran at once
    assert schema_assigned > max(parser_done)  # fan-in: only after every parser
    flaky = [
        e for e in events.events if e.workflow_id == "retry_001" and e.event_type == "TASK_ASSIGNED"
    ]
    assert len(flaky) == 3  # two failures retried, third attempt completed
    attempts = [
        e for e in events.events if e.workflow_id == "retry_002" and e.event_type == "TASK_ASSIGNED"
    ]
    assert len(attempts) == 3  # first try + two retries, then the rule no longer matches
    failed = events.last("retry_002", "WORKFLOW_FAILED")
    assert failed is not None


async def test_exclusive_file_is_never_held_by_two_workflows(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    agents.policy = lambda e: Decision(delay=0.5)
    agents.attach()
    events.attach()
    env = {**e2e_env, "BATON_RESOURCE_POOLS": '{"agents": 8}'}
    names = [f"files_{i}" for i in range(4)]
    async with Cluster(["resource", "hub"], env=env, log_dir=log_dir), bus:
        for name in names:
            await hub(
                bus,
                "CREATE_WORKFLOW",
                name,
                {
                    "definition": {
                        "workflow_id": name,
                        "name": name,
                        "priority": "medium",
                        "phases": ["edit"],
                        "resource_requirements": {
                            "agents": 1,
                            "duration": "1h",
                            "exclusive_files": ["config.nix"],
                        },
                    }
                },
            )
        for name in names:
            await until_status(bus, name, "COMPLETED")
    # Different workflows are on different partitions, so the log's order across them is not
    # causal; the resource manager's event ids (UUIDv7, monotonic per process) are.
    resource = sorted(
        (e for e in events.events if e.event_type.startswith("RESOURCE_")), key=lambda e: e.event_id
    )
    holder: str | None = None
    for event in resource:
        if event.event_type == "RESOURCE_ALLOCATED":
            assert holder is None, f"{event.workflow_id} got config.nix while {holder} held it"
            holder = event.workflow_id
        elif event.event_type == "RESOURCE_DEALLOCATED" and event.workflow_id == holder:
            holder = None
    assert any(e.event_type == "RESOURCE_CONFLICT" for e in events.events)


async def test_low_priority_is_not_starved_by_a_stream_of_high_priority(
    e2e_env: dict[str, str], client: tuple[Bus, SimAgents, EventLog], log_dir: Path
) -> None:
    bus, agents, events = client
    agents.policy = lambda e: Decision(delay=0.4)
    agents.attach()
    events.attach()
    # Aging is sped up (1200 rank points a minute: high's lead of 60 is gone in 3 s) so the
    # bound can be measured in seconds rather than an hour.
    env = {
        **e2e_env,
        "BATON_RESOURCE_POOLS": '{"agents": 2}',
        "BATON_RESOURCE_AGING_PER_MINUTE": "1200",
    }

    def definition(name: str, priority: str) -> dict[str, object]:
        return {
            "workflow_id": name,
            "name": name,
            "priority": priority,
            "phases": ["work"],
            "resource_requirements": {"agents": 2, "duration": "1h"},
        }

    async with Cluster(["resource", "hub"], env=env, log_dir=log_dir), bus:
        await hub(
            bus, "CREATE_WORKFLOW", "high_000", {"definition": definition("high_000", "high")}
        )
        await until_status(bus, "high_000", "STARTED")
        await hub(bus, "CREATE_WORKFLOW", "low_001", {"definition": definition("low_001", "low")})
        queued_at = time.monotonic()
        started_at: float | None = None
        stream = 0
        while started_at is None and time.monotonic() - queued_at < 60:
            stream += 1
            name = f"high_{stream:03d}"
            await hub(bus, "CREATE_WORKFLOW", name, {"definition": definition(name, "high")})
            await asyncio.sleep(0.25)
            if events.last("low_001", "WORKFLOW_STARTED") is not None:
                started_at = time.monotonic()
        assert started_at is not None, "the low-priority workflow never started"
        waited = started_at - queued_at
        highs_before = [
            e.workflow_id
            for e in events.events
            if e.event_type == "WORKFLOW_STARTED" and e.workflow_id.startswith("high")
        ]
        print(
            f"low-priority wait {waited:.1f}s while {stream} high-priority workflows arrived; "
            f"{len(highs_before)} high ones started"
        )
        assert waited < 20.0  # bound: 3 s of aging + a few 0.4 s holds, with margin
        assert stream >= 5  # high-priority work really kept arriving meanwhile

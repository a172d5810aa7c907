"""Seed 003's patterns (sequential, parallel, mixed fan-out/fan-in) and quality gates."""

from __future__ import annotations

from typing import Any

from baton_hub.workflow import on_quality_score
from tests.unit.hub.helpers import Run, of_type, types

MIXED: dict[str, Any] = {
    "workflow_id": "codegen_001",
    "name": "Parse contracts, then generate a unified schema",
    "phases": ["generation"],
    "tasks": [
        {"task_id": "parser_0", "role": "parser"},
        {"task_id": "parser_1", "role": "parser"},
        {"task_id": "parser_2", "role": "parser"},
        {
            "task_id": "schema_gen",
            "role": "schema_generator",
            "dependencies": ["parser_0", "parser_1", "parser_2"],
        },
    ],
}


def assigned(events: Any) -> dict[str, str]:
    return {e.data["task_id"]: e.data["agent_id"] for e in of_type(events, "TASK_ASSIGNED")}


def test_mixed_pattern_fans_out_then_in() -> None:
    run = Run(MIXED)
    events = run.start("agent_1", "agent_2", "agent_3")
    # The three parsers run in parallel, one per agent, all assigned at once.
    assert assigned(events) == {
        "parser_0": "agent_1",
        "parser_1": "agent_2",
        "parser_2": "agent_3",
    }
    assert run.status("schema_gen") == "pending"
    run.complete("parser_1")
    events = run.complete("parser_0")
    assert "TASK_ASSIGNED" not in types(events)
    assert run.status("schema_gen") == "pending"
    events = run.complete("parser_2")
    assert list(assigned(events)) == ["schema_gen"]
    events = run.complete("schema_gen")
    assert types(events)[-1] == "WORKFLOW_COMPLETED"


def test_sequential_pattern_runs_one_after_another() -> None:
    run = Run(
        {
            "workflow_id": "seq",
            "tasks": [
                {"task_id": "model_gen"},
                {"task_id": "validator_gen", "dependencies": ["model_gen"]},
                {"task_id": "test_gen", "dependencies": ["model_gen", "validator_gen"]},
            ],
        }
    )
    assert list(assigned(run.start("a1", "a2", "a3"))) == ["model_gen"]
    assert list(assigned(run.complete("model_gen"))) == ["validator_gen"]
    assert list(assigned(run.complete("validator_gen"))) == ["test_gen"]
    assert run.complete("test_gen")[-1].event_type == "WORKFLOW_COMPLETED"


def test_parallel_tasks_wait_for_free_agents() -> None:
    run = Run({"workflow_id": "par", "tasks": [{"task_id": f"contract_{i}"} for i in range(3)]})
    # Two agents, three independent tasks: one task per agent at a time.
    assert assigned(run.start("a1", "a2")) == {"contract_0": "a1", "contract_1": "a2"}
    assert run.status("contract_2") == "ready"
    assert assigned(run.complete("contract_0")) == {"contract_2": "a1"}


def test_max_tasks_per_agent_allows_sharing() -> None:
    run = Run(
        {
            "workflow_id": "par",
            "max_tasks_per_agent": 3,
            "tasks": [{"task_id": f"t{i}"} for i in range(3)],
        }
    )
    assert set(assigned(run.start("solo")).values()) == {"solo"}


def test_parallelize_rule_lets_ready_tasks_share_busy_agents() -> None:
    rule = {
        "rule_id": "fan_out",
        "name": "Parallelise parsers",
        "condition_key": "role",
        "condition_operator": "==",
        "condition_value": "parser",
        "decision": "PARALLELIZE",
        "priority": 10,
    }
    run = Run({**MIXED, "rules": [rule]})
    events = run.start("agent_1")
    assert assigned(events) == {"parser_0": "agent_1", "parser_1": "agent_1", "parser_2": "agent_1"}


GATED: dict[str, Any] = {
    "workflow_id": "gated",
    "tasks": [
        {"task_id": "tests", "quality_gate": {"min_score": 0.8}},
        {"task_id": "deploy", "dependencies": ["tests"]},
    ],
}


def test_quality_gate_below_threshold_blocks_until_score_rises() -> None:
    run = Run(GATED)
    run.start("a1", "a2")
    events = run.complete("tests", score=0.6)
    assert types(events) == ["TASK_COMPLETED", "QUALITY_GATE_BLOCKED"]
    assert events[1].data == {
        "task_id": "tests",
        "score": 0.6,
        "min_score": 0.8,
        "blocked_tasks": ["deploy"],
    }
    assert run.status("deploy") == "pending"
    events = run.do(on_quality_score, task_id="tests", score=0.7)
    assert events[0].data["gate"] == "blocked"
    assert "TASK_ASSIGNED" not in types(events)
    events = run.do(on_quality_score, task_id="tests", score=0.85)
    assert types(events) == ["QUALITY_SCORE_UPDATED", "TASK_ASSIGNED"]
    assert events[0].data["gate"] == "passed"
    assert events[0].data["previous_score"] == 0.7


def test_quality_gate_passes_at_once_when_met() -> None:
    run = Run(GATED)
    run.start("a1")
    events = run.complete("tests", score=0.8)
    assert types(events) == ["TASK_COMPLETED", "TASK_ASSIGNED"]


def test_quality_gate_holds_its_phase_back() -> None:
    run = Run(
        {
            "workflow_id": "w",
            "phases": ["test", "release"],
            "tasks": [{"task_id": "coverage", "phase": "test", "quality_gate": {"min_score": 90}}],
        }
    )
    run.start("a1")
    events = run.complete("coverage")
    assert types(events) == ["TASK_COMPLETED", "QUALITY_GATE_BLOCKED"]
    assert run.state.phase_name == "test"
    events = run.do(on_quality_score, task_id="coverage", score=95)
    assert types(events)[1:3] == ["PHASE_COMPLETED", "PHASE_STARTED"]


def test_dependant_may_ask_for_its_own_threshold() -> None:
    run = Run(
        {
            "workflow_id": "w",
            "tasks": [
                {"task_id": "build"},
                {
                    "task_id": "deploy",
                    "dependencies": [{"task_id": "build", "min_score": 0.9}],
                },
            ],
        }
    )
    run.start("a1")
    assert "TASK_ASSIGNED" not in types(run.complete("build", score=0.5))
    assert "TASK_ASSIGNED" in types(run.do(on_quality_score, task_id="build", score=0.95))


def test_late_quality_score_after_the_end_is_rejected_not_raised() -> None:
    run = Run(GATED)
    run.start("a1")
    run.complete("tests", score=0.9)
    run.complete("deploy")
    events = run.do(on_quality_score, task_id="tests", score=0.1)
    assert types(events) == ["TASK_RESULT_REJECTED"]
    assert events[0].data["reason"] == "workflow is COMPLETED"

"""Routing rules on failure, fencing tokens, timeouts and agent removal."""

from __future__ import annotations

from typing import Any

import pytest

from baton_hub.errors import UnknownItemError
from baton_hub.workflow import (
    check_timeouts,
    on_task_completed,
    on_task_failed,
    on_task_started,
    remove_agent,
    resume,
)
from tests.unit.hub.helpers import Run, of_type, types


def rule(
    decision: str, key: str = "error_count", op: str = ">", value: Any = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "rule_id": f"{decision}_rule",
        "name": f"{decision} on error",
        "condition_key": key,
        "condition_operator": op,
        "condition_value": value,
        "decision": decision,
        "priority": 100,
        **extra,
    }


def two_tasks(*rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "workflow_id": "w",
        "rules": list(rules),
        "tasks": [{"task_id": "work"}, {"task_id": "after", "dependencies": ["work"]}],
    }


def test_no_matching_rule_fails_task_and_workflow() -> None:
    run = Run(two_tasks())
    run.start("a1")
    events = run.fail("work", "disk full")
    assert types(events) == ["TASK_FAILED", "PHASE_FAILED", "WORKFLOW_FAILED"]
    assert events[0].data["decision"] == "fail"
    assert events[0].data["retry_count"] == 0
    reason = events[-1].data["failure_reason"]
    assert "task 'work' failed: disk full" in reason
    assert "no routing rule matched" in reason
    assert run.workflow_status == "FAILED"
    assert run.status("work") == "failed"


def test_retry_rule_retries_up_to_its_limit_then_fails() -> None:
    # Seed 003: error_count <= 3 → RETRY (three retries after the first attempt).
    run = Run(two_tasks(rule("RETRY", op="<=", value=3)))
    run.start("a1", "a2")
    tokens = [run.holder("work")]
    for attempt in range(1, 4):
        events = run.fail("work")
        assert events[0].data["decision"] == "retry"
        assert events[0].data["error_count"] == attempt
        assert types(events)[1:] == ["TASK_REASSIGNED", "TASK_ASSIGNED"]
        tokens.append(run.holder("work"))
    assert [token for _, token in tokens] == [1, 2, 3, 4]
    # A retry prefers another agent than the one that failed.
    assert [agent for agent, _ in tokens] == ["a1", "a2", "a1", "a2"]
    assert run.state.tasks["work"].attempts == 4
    events = run.fail("work")
    assert types(events) == ["TASK_FAILED", "PHASE_FAILED", "WORKFLOW_FAILED"]
    assert run.workflow_status == "FAILED"


def test_retry_stops_at_max_attempts() -> None:
    run = Run(two_tasks(rule("retry", max_attempts=2)))
    run.start("a1")
    assert types(run.fail("work"))[-1] == "TASK_ASSIGNED"
    events = run.fail("work")
    assert events[0].data["decision"] == "fail"
    assert "retry limit reached after 2 attempts" in events[-1].data["failure_reason"]


def test_retry_then_success_completes() -> None:
    run = Run(two_tasks(rule("retry")))
    run.start("a1")
    run.fail("work")
    run.complete("work")
    events = run.complete("after")
    assert types(events)[-1] == "WORKFLOW_COMPLETED"
    assert events[-1].data["final_metrics"]["retries"] == 1


def test_skip_rule_lets_dependants_continue() -> None:
    run = Run(two_tasks(rule("skip")))
    run.start("a1")
    events = run.fail("work")
    assert types(events) == ["TASK_FAILED", "TASK_SKIPPED", "TASK_ASSIGNED"]
    assert events[1].data["rule_id"] == "skip_rule"
    assert run.status("work") == "skipped"
    assert types(run.complete("after"))[-1] == "WORKFLOW_COMPLETED"


def test_fail_rule_fails_the_workflow() -> None:
    run = Run(two_tasks(rule("fail")))
    run.start("a1")
    events = run.fail("work")
    assert "rule fail_rule decided fail" in events[-1].data["failure_reason"]


def test_escalate_pauses_and_resume_retries() -> None:
    run = Run(two_tasks(rule("escalate", key="failure_reason", op="in", value="permission denied")))
    run.start("a1")
    events = run.fail("work", "permission")
    assert types(events) == ["TASK_FAILED", "ESCALATION_REQUIRED", "WORKFLOW_PAUSED"]
    assert events[1].data["context"]["error_count"] == 1
    assert run.workflow_status == "PAUSED"
    assert "escalation" in (run.state.pause_reason or "")
    events = run.do(resume)
    assert types(events) == ["WORKFLOW_RESUMED", "TASK_ASSIGNED"]
    assert events[0].data["state_validation"]["tasks_retried"] == ["work"]
    assert events[1].data["fencing_token"] == 2


def test_rules_are_evaluated_by_priority() -> None:
    low = {**rule("retry"), "priority": 1}
    high = {**rule("skip", key="role", op="==", value="main"), "priority": 50}
    run = Run(two_tasks(low, high))
    run.start("a1")
    assert run.fail("work")[0].data["decision"] == "skip"


def test_stale_fencing_token_and_wrong_agent_are_rejected() -> None:
    run = Run(two_tasks(rule("retry")))
    run.start("a1", "a2")
    run.fail("work")
    assert run.holder("work") == ("a2", 2)
    before = run.state
    # The first holder's late result: wrong agent.
    events = run.do(
        on_task_completed, task_id="work", agent_id="a1", fencing_token=1, results={"x": 1}
    )
    assert types(events) == ["TASK_RESULT_REJECTED"]
    assert "agent a1 does not hold the task (held by a2)" in events[0].data["reason"]
    assert run.state is before
    # The holder with an old token: stale.
    events = run.do(on_task_completed, task_id="work", agent_id="a2", fencing_token=1)
    assert events[0].data["reason"] == "stale fencing token 1 (current 2)"
    assert run.state is before
    events = run.do(on_task_started, task_id="work", agent_id="a1", fencing_token=1)
    assert events[0].data["report"] == "started"
    # The current holder and token are accepted.
    assert types(run.complete("work"))[0] == "TASK_COMPLETED"
    events = run.do(on_task_failed, task_id="work", agent_id="a2", fencing_token=2, reason="late")
    assert "task is completed" in events[0].data["reason"]
    with pytest.raises(UnknownItemError, match="no task 'ghost'"):
        run.do(on_task_completed, task_id="ghost", agent_id="a2")


def test_reports_after_the_end_are_rejected() -> None:
    run = Run(two_tasks())
    run.start("a1")
    run.fail("work")
    events = run.do(on_task_completed, task_id="work", agent_id="a1", fencing_token=1)
    assert "workflow is FAILED" in events[0].data["reason"]


def test_dependency_timeout_fails_with_a_reason_naming_the_dependency() -> None:
    run = Run(
        {
            "workflow_id": "w",
            "tasks": [
                {"task_id": "slow"},
                {"task_id": "waiter", "dependencies": ["slow"], "timeout": "10m"},
            ],
        }
    )
    run.start("a1", "a2")
    run.tick(minutes=9)
    assert run.do(check_timeouts) == []
    run.tick(minutes=1)
    events = run.do(check_timeouts)
    assert types(events) == ["DEPENDENCY_TIMEOUT", "PHASE_FAILED", "WORKFLOW_FAILED"]
    assert events[0].data["dependency"] == "slow"
    assert events[0].data["kind"] == "agent_completion"
    reason = events[-1].data["failure_reason"]
    assert "task 'waiter' failed: waited longer than 10m for dependency 'slow'" in reason
    assert run.status("waiter") == "failed"


def test_quality_gate_wait_times_out_with_the_score_in_the_reason() -> None:
    run = Run(
        {
            "workflow_id": "w",
            "dependency_timeout": "5m",
            "tasks": [
                {"task_id": "tests", "quality_gate": {"min_score": 0.8}},
                {"task_id": "deploy", "dependencies": ["tests"]},
            ],
        }
    )
    run.start("a1")
    run.complete("tests", score=0.5)
    run.tick(minutes=5)
    events = run.do(check_timeouts)
    assert "quality_gate: score 0.5 < 0.8" in events[-1].data["failure_reason"]


def test_gate_nobody_waits_on_times_out_on_its_own() -> None:
    run = Run(
        {
            "workflow_id": "w",
            "tasks": [{"task_id": "tests", "quality_gate": {"min_score": 0.8, "timeout": "1m"}}],
        }
    )
    run.start("a1")
    run.complete("tests")
    run.tick(minutes=1)
    events = run.do(check_timeouts)
    assert events[0].data["kind"] == "quality_gate"
    assert "quality gate of task 'tests' not met within 1m (no score < 0.8)" in (
        run.state.failure_reason or ""
    )


def test_dependency_timeout_retry_restarts_the_wait() -> None:
    wait_rule = rule("retry", key="failure_type", op="==", value="dependency_timeout")
    run = Run(
        {
            **two_tasks(wait_rule),
            "tasks": [
                {"task_id": "work"},
                {"task_id": "after", "dependencies": ["work"], "timeout": "1m"},
            ],
        }
    )
    run.start("a1", "a2")
    run.tick(minutes=1)
    events = run.do(check_timeouts)
    assert types(events) == ["DEPENDENCY_TIMEOUT"]
    assert run.status("after") == "pending"
    assert run.state.tasks["after"].waiting_since == run.now
    assert run.do(check_timeouts) == []


def test_execution_timeout_is_a_failure_for_the_rules() -> None:
    run = Run(
        {
            "workflow_id": "w",
            "rules": [rule("retry", key="failure_type", op="==", value="execution_timeout")],
            "tasks": [{"task_id": "work", "execution_timeout": "15m"}],
        }
    )
    run.start("a1", "a2")
    run.tick(minutes=15)
    events = run.do(check_timeouts)
    assert types(events) == ["TASK_TIMEOUT", "TASK_REASSIGNED", "TASK_ASSIGNED"]
    assert events[0].data["timeout_duration"] == "15m"
    assert run.holder("work") == ("a2", 2)


def test_external_dependency_timeout_fails_a_blocked_workflow() -> None:
    run = Run(
        {
            "workflow_id": "w",
            "block_on_dependencies": True,
            "external_dependencies": [{"name": "security_review", "timeout": "1h"}],
        }
    )
    run.start("a1")
    run.tick(hours=1)
    events = run.do(check_timeouts)
    assert types(events) == ["DEPENDENCY_TIMEOUT", "WORKFLOW_FAILED"]
    assert "'security_review' not satisfied within 1h" in events[-1].data["failure_reason"]


def test_removed_agent_tasks_move_to_another_agent() -> None:
    run = Run({"workflow_id": "w", "tasks": [{"task_id": "t1"}, {"task_id": "t2"}]})
    run.start("a1", "a2", "a3")
    assert run.holder("t1") == ("a1", 1)
    events = run.do(remove_agent, agent_id="a1", reason="missed heartbeats")
    assert types(events) == ["AGENT_DEALLOCATED", "TASK_REASSIGNED", "TASK_ASSIGNED"]
    assert events[1].data == {
        "task_id": "t1",
        "old_agent": "a1",
        "new_agent": "a3",
        "reason": "agent a1 removed: missed heartbeats",
    }
    assert run.state.tasks["t1"].error_count == 0
    assert run.holder("t1") == ("a3", 2)
    late = run.do(on_task_completed, task_id="t1", agent_id="a1", fencing_token=1)
    assert types(late) == ["TASK_RESULT_REJECTED"]
    with pytest.raises(UnknownItemError):
        run.do(remove_agent, agent_id="a1", reason="again")
    assert of_type(run.log, "AGENT_DEALLOCATED")[0].data["released_tasks"] == ["t1"]

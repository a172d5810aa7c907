"""A dependency that timed out never lets its dependant run as if it were satisfied (issue 16.3).

The workflow's routing rules decide what happens instead: wait longer (``retry``), ``skip``,
``escalate`` or ``fail``; without a rule the task and the workflow fail, naming the
dependency — also when failures are otherwise left to workflow-recovery, whose answers
(retry on another agent, reassign) are about agents, never about a dependency.
"""

from __future__ import annotations

from typing import Any

from baton_hub.recovery import recover_task
from baton_hub.workflow import check_timeouts, on_external_event, resume
from tests.unit.hub.helpers import Run, of_type, types


def legal(*rules: dict[str, Any], delegate: bool = False, wait: str = "10m") -> Run:
    """``draft`` runs at once; ``publish`` also waits for the external ``legal_signoff``
    (its own timeout 1m from creation, the task's wait ``wait``)."""
    run = Run(
        {
            "workflow_id": "wf_legal",
            "rules": list(rules),
            "external_dependencies": [{"name": "legal_signoff", "timeout": "1m"}],
            "tasks": [
                {"task_id": "draft"},
                {
                    "task_id": "publish",
                    "dependencies": ["draft", "legal_signoff"],
                    "timeout": wait,
                },
            ],
        }
    )
    run.state.delegate_failures = delegate
    run.start("a1", "a2")
    run.complete("draft")
    return run


def on_dependency(decision: str, **extra: Any) -> dict[str, Any]:
    return {
        "rule_id": f"{decision}_legal",
        "condition_key": "dependency",
        "condition_operator": "==",
        "condition_value": "legal_signoff",
        "decision": decision,
        "priority": 10,
        **extra,
    }


def assigned(run: Run, task_id: str) -> list[Any]:
    return [e for e in of_type(run.log, "TASK_ASSIGNED") if e.data["task_id"] == task_id]


def test_the_external_timeout_ends_the_wait_and_fails_by_default() -> None:
    run = legal()
    run.tick(minutes=1)
    events = run.do(check_timeouts)
    assert types(events) == [
        "DEPENDENCY_TIMEOUT",  # legal_signoff's own timeout
        "DEPENDENCY_TIMEOUT",  # publish's wait for it, for the rules
        "PHASE_FAILED",
        "WORKFLOW_FAILED",
    ]
    assert events[0].data["kind"] == "external"
    assert events[1].data["task_id"] == "publish"
    assert events[1].data["dependency"] == "legal_signoff"
    assert events[1].data["decision"] == "fail"
    reason = events[-1].data["failure_reason"]
    assert "task 'publish' failed" in reason
    assert "dependency 'legal_signoff'" in reason
    assert "not satisfied within 1m" in reason
    assert events[-1].data["failed_task"] == "publish"
    assert run.status("publish") == "failed"
    assert assigned(run, "publish") == []


def test_a_dependency_timeout_is_not_left_to_recovery() -> None:
    run = legal(delegate=True, wait="1m")
    run.tick(minutes=1)
    events = run.do(check_timeouts)
    assert "RECOVERY_REQUESTED" not in types(events)
    assert types(events)[-1] == "WORKFLOW_FAILED"
    assert "'legal_signoff'" in (run.state.failure_reason or "")
    assert assigned(run, "publish") == []


def test_an_agent_failure_is_still_left_to_recovery() -> None:
    run = Run({"workflow_id": "wf_agent", "tasks": [{"task_id": "draft"}]})
    run.state.delegate_failures = True
    run.start("a1")
    assert types(run.fail("draft")) == ["TASK_FAILED", "RECOVERY_REQUESTED"]


def test_a_reassignment_by_recovery_does_not_run_a_task_still_waiting() -> None:
    # The trial: DEPENDENCY_TIMEOUT legal_signoff, then TASK_RETRY reason=agent_reallocation.
    run = legal(delegate=True)
    events = run.do(recover_task, task_id="publish", action="reassign", reason="agent_reallocation")
    assert types(events) == ["TASK_RETRY"]
    assert run.status("publish") == "pending"
    assert run.state.tasks["publish"].waiting_since == run.now
    assert assigned(run, "publish") == []
    # Satisfied later, it runs: then and only then.
    run.tick(seconds=10)
    events = run.do(on_external_event, dependency="legal_signoff")
    assert [e.data["task_id"] for e in of_type(events, "TASK_ASSIGNED")] == ["publish"]


def test_escalation_then_resume_waits_for_the_dependency_again() -> None:
    escalate = {
        **on_dependency("escalate"),
        "condition_key": "failure_type",
        "condition_value": "dependency_timeout",
    }
    run = legal(escalate, wait="1m")
    run.tick(minutes=1)
    events = run.do(check_timeouts)
    assert types(events)[-2:] == ["ESCALATION_REQUIRED", "WORKFLOW_PAUSED"]
    run.tick(minutes=5)
    events = run.do(resume)
    assert types(events) == ["WORKFLOW_RESUMED"]
    assert events[0].data["state_validation"]["tasks_retried"] == ["publish"]
    assert run.status("publish") == "pending"
    assert run.state.tasks["publish"].waiting_since == run.now
    assert assigned(run, "publish") == []
    events = run.do(on_external_event, dependency="legal_signoff")
    assert "TASK_ASSIGNED" in types(events)


def test_a_rule_can_wait_longer_for_one_dependency() -> None:
    run = legal(on_dependency("retry", max_attempts=2), wait="5m")
    run.tick(minutes=1)
    events = run.do(check_timeouts)
    timeout = of_type(events, "DEPENDENCY_TIMEOUT")[-1]
    assert (timeout.data["decision"], timeout.data["rule_id"]) == ("retry", "retry_legal")
    assert run.workflow_status == "STARTED"
    assert run.status("publish") == "pending"
    # The new wait is the task's own 5m, from now: nothing is due before.
    run.tick(minutes=4)
    assert run.do(check_timeouts) == []
    run.tick(minutes=1)
    events = run.do(check_timeouts)
    assert types(events) == ["DEPENDENCY_TIMEOUT", "PHASE_FAILED", "WORKFLOW_FAILED"]
    assert "retry limit reached after 2 attempts" in (run.state.failure_reason or "")
    assert assigned(run, "publish") == []


def test_a_rule_can_skip_the_task_that_waits() -> None:
    run = legal(on_dependency("skip"))
    run.tick(minutes=1)
    events = run.do(check_timeouts)
    assert types(events)[-3:] == ["TASK_SKIPPED", "PHASE_COMPLETED", "WORKFLOW_COMPLETED"]
    assert run.status("publish") == "skipped"
    assert assigned(run, "publish") == []


def test_other_dependencies_do_not_match_a_rule_about_one() -> None:
    run = legal(
        {**on_dependency("skip"), "condition_value": "security_review"},
        wait="1m",
    )
    run.tick(minutes=1)
    run.do(check_timeouts)
    assert run.workflow_status == "FAILED"
    assert "no routing rule matched" in (run.state.failure_reason or "")


def test_a_later_phase_waits_its_own_timeout_after_the_external_one() -> None:
    run = Run(
        {
            "workflow_id": "wf_later",
            "phases": ["build", "ship"],
            "external_dependencies": [{"name": "legal_signoff", "timeout": "1m"}],
            "tasks": [
                {"task_id": "build", "phase": "build"},
                {
                    "task_id": "ship",
                    "phase": "ship",
                    "dependencies": ["legal_signoff"],
                    "timeout": "10m",
                },
            ],
        }
    )
    run.start("a1")
    run.tick(minutes=1)
    events = run.do(check_timeouts)
    assert types(events) == ["DEPENDENCY_TIMEOUT"]  # nobody waits on it yet
    assert run.state.external["legal_signoff"].timed_out
    run.tick(minutes=1)
    run.complete("build")
    assert run.status("ship") == "pending"
    run.tick(minutes=9)
    assert run.do(check_timeouts) == []
    run.tick(minutes=1)
    events = run.do(check_timeouts)
    assert types(events) == ["DEPENDENCY_TIMEOUT", "PHASE_FAILED", "WORKFLOW_FAILED"]
    assert "waited longer than 10m for dependency 'legal_signoff'" in (
        run.state.failure_reason or ""
    )
    assert assigned(run, "ship") == []

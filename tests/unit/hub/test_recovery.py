"""The hub's side of recovery: delegated failures, recovery actions, restore, checkpoints."""

from __future__ import annotations

from typing import Any

import pytest

from baton_hub.agents import assign_agents
from baton_hub.errors import InvalidTransition
from baton_hub.recovery import checkpoint_requests, recover_task, restore
from baton_hub.workflow import on_task_completed
from tests.unit.hub.helpers import Run, of_type, types


def chain(*, delegate: bool = True) -> Run:
    run = Run(
        {
            "workflow_id": "wf_r",
            "phases": ["build", "check"],
            "tasks": [
                {"task_id": "a", "phase": "build"},
                {"task_id": "b", "phase": "build", "dependencies": ["a"]},
                {"task_id": "c", "phase": "check"},
            ],
        }
    )
    run.state.delegate_failures = delegate
    return run


def test_an_unhandled_failure_is_left_to_recovery_when_delegated() -> None:
    run = chain()
    run.start("ag1", "ag2")
    events = run.fail("a", "tool crashed")
    assert types(events) == ["TASK_FAILED", "RECOVERY_REQUESTED"]
    assert events[1].data["failure_reason"] == "tool crashed"
    assert run.state.status == "STARTED"
    assert run.state.tasks["a"].status == "failed"
    alone = chain(delegate=False)
    alone.start("ag1")
    assert types(alone.fail("a")) == ["TASK_FAILED", "PHASE_FAILED", "WORKFLOW_FAILED"]


def test_reassign_avoids_agents_and_fences_the_old_holder() -> None:
    run = chain()
    run.start("ag1", "ag2")
    agent, token = run.holder("a")
    events = run.do(
        recover_task, task_id="a", action="reassign", reason="agent timeout", avoid_agents=[agent]
    )
    assert types(events)[:2] == ["TASK_RETRY", "TASK_REASSIGNED"]
    new_agent, new_token = run.holder("a")
    assert new_agent != agent
    assert new_token == token + 1
    late = run.do(on_task_completed, task_id="a", agent_id=agent, fencing_token=token)
    assert types(late) == ["TASK_RESULT_REJECTED"]


def one_phase(**roles: str | None) -> Run:
    """Independent tasks of one phase (task id → role, None for the phase's), delegated."""
    run = Run(
        {
            "workflow_id": "wf_p",
            "phases": ["build"],
            "tasks": [
                {"task_id": t, "phase": "build", **({"role": role} if role else {})}
                for t, role in roles.items()
            ],
        }
    )
    run.state.delegate_failures = True
    return run


def test_a_reassignment_waits_for_another_agent_rather_than_the_avoided_one() -> None:
    run = one_phase(a=None, b=None)
    run.start("ag1", "ag2")
    assert (run.holder("a")[0], run.holder("b")[0]) == ("ag1", "ag2")
    run.fail("a", "tool crashed")
    # ag1 is free again and ag2 busy with b: the task waits for ag2, it does not go back.
    events = run.do(
        recover_task, task_id="a", action="reassign", reason="tool crashed", avoid_agents=["ag1"]
    )
    assert types(events) == ["TASK_RETRY"]
    assert events[0].data["avoid_agents"] == ["ag1"]
    assert run.status("a") == "ready"
    events = run.complete("b")
    moved = of_type(events, "TASK_REASSIGNED")[0].data
    assert (moved["old_agent"], moved["new_agent"]) == ("ag1", "ag2")
    assigned = of_type(events, "TASK_ASSIGNED")[0].data
    assert assigned["agent_id"] == "ag2"
    assert "avoided_agent_used" not in assigned
    assert run.state.tasks["a"].avoid_agents == []  # an instruction for that assignment only


def test_an_agent_of_another_role_is_taken_before_an_avoided_one() -> None:
    run = one_phase(a="db")
    run.do(
        assign_agents,
        assignments=[{"agent_id": "ag1", "role": "db"}, {"agent_id": "ag2", "role": "web"}],
    )
    run.start("ag1", "ag2")
    assert run.holder("a")[0] == "ag1"  # the only agent of its role
    run.fail("a", "tool crashed")
    events = run.do(
        recover_task, task_id="a", action="reassign", reason="tool crashed", avoid_agents=["ag1"]
    )
    assert of_type(events, "TASK_ASSIGNED")[0].data["agent_id"] == "ag2"


def test_only_a_workflow_of_avoided_agents_gives_one_the_task_and_says_so() -> None:
    run = one_phase(a=None, b=None)
    run.start("ag1")
    run.complete("a")
    run.fail("b", "tool crashed")
    events = run.do(
        recover_task, task_id="b", action="reassign", reason="tool crashed", avoid_agents=["ag1"]
    )
    assigned = of_type(events, "TASK_ASSIGNED")[0].data
    assert assigned["agent_id"] == "ag1"
    assert "no other agent of the workflow" in assigned["avoided_agent_used"]


def test_skip_and_fail_actions() -> None:
    run = chain()
    run.start("ag1")
    run.fail("a")
    assert "TASK_SKIPPED" in types(
        run.do(recover_task, task_id="a", action="skip", reason="optional")
    )
    assert run.state.tasks["b"].status == "assigned"
    run.fail("b")
    events = run.do(recover_task, task_id="b", action="fail", reason="gave up")
    assert types(events)[-1] == "WORKFLOW_FAILED"
    with pytest.raises(InvalidTransition):
        run.do(recover_task, task_id="b", action="retry", reason="too late")


def test_restore_keeps_completed_work_and_restarts_the_rest() -> None:
    run = chain()
    run.start("ag1", "ag2")
    run.complete("a")
    checkpoint: dict[str, Any] = run.state.model_dump(mode="json")
    run.complete("b")
    run.fail("c", "corrupted output")
    events = run.do(restore, snapshot=checkpoint, checkpoint_id="ckpt_1")
    restored = of_type(events, "WORKFLOW_RESTORED")[0].data
    assert sorted(restored["kept_tasks"]) == ["a", "b"]
    assert restored["reset_tasks"] == ["c"]
    assert restored["current_phase"] == "check"
    assert run.state.status == "STARTED"
    assert run.state.tasks["c"].status == "assigned"
    assert run.state.checkpoint_id == "ckpt_1"


def test_restore_revives_a_failed_workflow_and_rejects_foreign_snapshots() -> None:
    run = chain(delegate=False)
    run.start("ag1")
    checkpoint = run.state.model_dump(mode="json")
    run.fail("a")
    assert run.state.status == "FAILED"
    run.do(restore, snapshot=checkpoint, checkpoint_id="ckpt_0")
    revived = run.state
    assert revived.status == "STARTED"
    assert revived.tasks["a"].status == "assigned"
    other = chain()
    other.state.definition = other.state.definition.model_copy(update={"workflow_id": "wf_x"})
    with pytest.raises(InvalidTransition, match="is of workflow wf_x"):
        run.do(restore, snapshot=other.state.model_dump(mode="json"), checkpoint_id="x")


def test_checkpoint_requests_per_trigger() -> None:
    run = chain()
    run.start("ag1", "ag2")
    run.complete("a")
    events = run.complete("b")
    asked = checkpoint_requests(run.state, events, every=0)
    assert [a["checkpoint_type"] for a in asked] == ["phase_complete"]
    assert asked[0]["trigger"] == "phase build completed"
    failed = run.fail("c")
    assert [a["checkpoint_type"] for a in checkpoint_requests(run.state, failed, every=0)] == [
        "emergency"
    ]
    version = run.state.state_version
    assert checkpoint_requests(run.state, [], every=version)[0]["checkpoint_type"] == "incremental"
    assert checkpoint_requests(run.state, [], every=0) == []

"""The takeaway rule: which events end an agent's run of a task (issue 16, point 1).

A superseded assignment's late report — agent_001 was paused past its task's timeout, the
task went to agent_002 with a newer fencing token, then agent_001 woke up and reported —
must never take the task from its current holder.
"""

from __future__ import annotations

from typing import Any

import pytest

from baton.client.takeaway import Takeaway, takeaway
from baton.protocol.event import Event

A, B = "agent_001", "agent_002"


def report(kind: str, *, agent: str, token: int | None) -> Event:
    data: dict[str, Any] = {"task_id": "t1", "agent_id": agent}
    if token is not None:
        data["fencing_token"] = token
    return Event(event_type=kind, workflow_id="wf_1", phase="build", data=data)


def ends_run(ended: Takeaway | None, *, token: int | None) -> bool:
    """Whether ``ended`` stops a run of task t1 holding ``token`` (the worker's test)."""
    if ended is None or ended.task_id not in (None, "t1"):
        return False
    return ended.before_token is None or token is None or token < ended.before_token


@pytest.mark.parametrize("kind", ["TASK_COMPLETED", "TASK_FAILED"])
def test_a_superseded_assignments_late_report_leaves_the_holder_alone(kind: str) -> None:
    late = report(kind, agent=A, token=1)
    assert not ends_run(takeaway(late, agent_id=B), token=2)


@pytest.mark.parametrize("kind", ["TASK_COMPLETED", "TASK_FAILED"])
def test_a_report_without_a_token_from_another_agent_takes_nothing(kind: str) -> None:
    assert takeaway(report(kind, agent=A, token=None), agent_id=B) is None


@pytest.mark.parametrize("kind", ["TASK_COMPLETED", "TASK_FAILED"])
def test_a_report_of_a_newer_assignment_settles_the_older_run(kind: str) -> None:
    # agent_002 missed its reassignment; agent_001 holds token 3 and reported on it.
    newer = takeaway(report(kind, agent=A, token=3), agent_id=B)
    assert ends_run(newer, token=2)
    assert not ends_run(newer, token=3)


def test_an_earlier_run_of_the_same_agent_settles_that_assignment_only() -> None:
    # Another process of this agent reported on token 1: a run of token 1 is settled ...
    assert ends_run(takeaway(report("TASK_COMPLETED", agent=A, token=1), agent_id=A), token=1)
    # ... but the task assigned to this agent again (token 3) is not.
    assert not ends_run(takeaway(report("TASK_COMPLETED", agent=A, token=1), agent_id=A), token=3)
    # Without a token the report is the agent's own on its current assignment.
    assert ends_run(takeaway(report("TASK_COMPLETED", agent=A, token=None), agent_id=A), token=3)


def test_what_the_hub_says_still_takes_the_task_away() -> None:
    reassigned = Event(
        event_type="TASK_REASSIGNED",
        workflow_id="wf_1",
        phase="build",
        data={"task_id": "t1", "old_agent": A, "new_agent": B},
    )
    assert ends_run(takeaway(reassigned, agent_id=A), token=1)
    assigned = Event(
        event_type="TASK_ASSIGNED",
        workflow_id="wf_1",
        phase="build",
        data={"task_id": "t1", "agent_id": B, "fencing_token": 2},
    )
    assert ends_run(takeaway(assigned, agent_id=A), token=1)
    skipped = Event(
        event_type="TASK_SKIPPED",
        workflow_id="wf_1",
        phase="build",
        data={"task_id": "t1", "reason": "rule", "rule_id": "r"},
    )
    assert ends_run(takeaway(skipped, agent_id=B), token=2)

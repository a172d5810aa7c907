"""What a batch of events tells the watchdog: signs of life first, watch changes in rounds
that keep each task's order."""

from __future__ import annotations

from typing import Any

from baton.protocol.event import Event
from baton_recovery.failures.signs import read_signs


def ev(kind: str, wf: str = "wf_1", source: str = "agent", **data: Any) -> Event:
    return Event(event_type=kind, workflow_id=wf, phase="p", data=data, source=source)


def test_a_task_assigned_started_and_completed_in_one_batch_is_one_round() -> None:
    signs = read_signs(
        [
            ev("TASK_ASSIGNED", source="baton-hub", task_id="t", agent_id="a1"),
            ev("TASK_STARTED", task_id="t", agent_id="a1"),
            ev("AGENT_HEARTBEAT", wf="global", agent_id="a2"),
            ev("TASK_COMPLETED", task_id="t", agent_id="a1"),
            ev("TASK_COMPLETED", source="baton-hub", task_id="t", agent_id="a1"),
            ev("WORKFLOW_COMPLETED"),
            ev("PHASE_STARTED", phase_id="p"),  # not the watchdog's
        ]
    )
    assert list(signs.alive) == ["a1", "a2"]
    assert list(signs.tracked) == ["a1"]
    assert signs.outcomes == {"a1": [True]}  # the hub's announcement is no report
    [one] = signs.rounds
    assert [(w.task_id, w.agent_id) for w in one.watches] == [("t", "a1")]
    assert [(p.task_id, p.agent_id) for p in one.progress] == [("t", "a1")]
    assert [(r.task_id, r.agent_id) for r in one.reports] == [("t", "a1")]
    assert one.ended == ["wf_1"]


def test_an_earlier_kind_after_a_later_one_of_the_same_task_opens_a_round() -> None:
    signs = read_signs(
        [
            ev("TASK_ASSIGNED", task_id="t", agent_id="a1"),
            ev("TASK_FAILED", task_id="t", agent_id="a1"),
            ev("TASK_ASSIGNED", task_id="u", agent_id="a1"),  # another task: same round
            ev("TASK_ASSIGNED", task_id="t", agent_id="a2"),  # reassigned: the next round
            ev("TASK_STARTED", task_id="t", agent_id="a2"),
        ]
    )
    assert signs.outcomes == {"a1": [False]}
    first, second = signs.rounds
    assert [(w.task_id, w.agent_id) for w in first.watches] == [("t", "a1"), ("u", "a1")]
    assert [r.task_id for r in first.reports] == ["t"]
    assert [(w.task_id, w.agent_id) for w in second.watches] == [("t", "a2")]
    assert [p.task_id for p in second.progress] == ["t"]


def test_a_task_of_a_workflow_ended_in_the_round_waits_for_the_next() -> None:
    signs = read_signs(
        [
            ev("TASK_ASSIGNED", task_id="t", agent_id="a1"),
            ev("WORKFLOW_CANCELLED"),
            ev("TASK_ASSIGNED", task_id="t", agent_id="a1"),  # e.g. after a restore
            ev("TASK_ASSIGNED", wf="wf_2", task_id="t", agent_id="a1"),
        ]
    )
    first, second = signs.rounds
    assert first.ended == ["wf_1"]
    assert len(first.watches) == 1
    assert [w.workflow_id for w in second.watches] == ["wf_1", "wf_2"]


def test_two_assignments_of_one_task_never_share_a_round() -> None:
    signs = read_signs(
        [
            ev("TASK_ASSIGNED", task_id="t", agent_id="a1"),
            ev("TASK_ASSIGNED", task_id="t", agent_id="a2"),
        ]
    )
    assert [[w.agent_id for w in r.watches] for r in signs.rounds] == [["a1"], ["a2"]]


def test_what_is_not_a_sign_changes_nothing() -> None:
    signs = read_signs(
        [
            ev("TASK_ASSIGNED", task_id="t"),  # no agent
            ev("TASK_COMPLETED", source="baton-hub", task_id="t", agent_id="a1"),
            ev("CHECKPOINT_REQUESTED", snapshot={}),
        ]
    )
    assert not signs
    heartbeat = Event(event_type="AGENT_HEARTBEAT", workflow_id="global", phase="a9", data={})
    assert list(read_signs([heartbeat]).alive) == ["a9"]  # the phase names the agent

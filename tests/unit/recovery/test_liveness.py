"""Liveness policy and what a timeout reports (the rules themselves are enforced on the
watchdog's rows: test_watchlist_pg.py)."""

from __future__ import annotations

from baton.protocol.registry import EventRegistry
from baton_recovery.failures.liveness import AgentTimeout, LivenessPolicy, TaskTimeout
from tests.unit.recovery.support import T0


def test_policy_defaults_follow_seed_001() -> None:
    policy = LivenessPolicy()
    assert (policy.interval_seconds, policy.misses, policy.timeout_seconds) == (30, 3, 90)


def test_agent_timeout_data() -> None:
    assert AgentTimeout("a1", T0, 30.0).data() == {
        "agent_id": "a1",
        "timeout_duration": "30s",
        "last_response": "2025-01-15T12:00:00Z",
    }


def test_task_timeout_data_gives_the_time_given_or_the_time_run() -> None:
    overdue = TaskTimeout("wf", "t1", "a1", "deadline", 650.0, "e1", limit_seconds=600.0)
    assert overdue.data() == {
        "task_id": "t1",
        "agent_id": "a1",
        "timeout_duration": "10m",
        "reason": "deadline",
    }
    silent = TaskTimeout("wf", "t1", "a1", "agent_timeout", 26.0, "e1")
    assert silent.data()["timeout_duration"] == "26s"


def test_a_timeouts_reassignment_is_named_after_its_assignment() -> None:
    """Whichever replica stores it, and however often, the hub applies it once."""
    first = TaskTimeout("wf", "t", "a1", "agent_timeout", 5.0, "evt_1")
    again = TaskTimeout("wf", "t", "a1", "agent_timeout", 9.0, "evt_1")
    later = TaskTimeout("wf", "t", "a2", "agent_timeout", 5.0, "evt_2")
    assert first.action_id == again.action_id != later.action_id


def test_timeout_data_passes_the_strict_event_registry() -> None:
    strict = EventRegistry(strict=True)
    strict.check("AGENT_TIMEOUT", AgentTimeout("a1", T0, 30.0).data())
    strict.check("TASK_TIMEOUT", TaskTimeout("wf", "t", "a1", "agent_timeout", 3.0).data())

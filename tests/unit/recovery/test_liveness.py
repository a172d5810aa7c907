"""Heartbeat liveness: agent and task timeouts reported once per outage, recovery, persistence."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from baton.protocol.registry import EventRegistry
from baton_recovery.liveness import Due, Liveness, LivenessPolicy
from tests.unit.recovery.support import T0, at

POLICY = LivenessPolicy(interval_seconds=10, misses=3)  # timed out after 30 s of silence


def test_policy_defaults_follow_seed_001() -> None:
    policy = LivenessPolicy()
    assert (policy.interval_seconds, policy.misses, policy.timeout_seconds) == (30, 3, 90)


def test_an_agent_times_out_after_m_missed_heartbeats_once() -> None:
    live = Liveness()
    live.heartbeat("a1", now=T0)
    assert live.due(now=at(29.9), policy=POLICY).agents == ()
    due = live.due(now=at(30), policy=POLICY)
    assert [t.agent_id for t in due.agents] == ["a1"]
    assert due.agents[0].data() == {
        "agent_id": "a1",
        "timeout_duration": "30s",
        "last_response": "2025-01-15T12:00:00Z",
    }
    assert live.due(now=at(31), policy=POLICY).agents == ()
    assert live.due(now=at(500), policy=POLICY).agents == ()


def test_a_heartbeat_after_the_timeout_is_a_recovery_and_a_new_outage_reports_again() -> None:
    live = Liveness()
    live.heartbeat("a1", now=T0)
    live.due(now=at(40), policy=POLICY)
    assert live.heartbeat("a1", now=at(45)) is True
    assert live.heartbeat("a1", now=at(46)) is False
    assert live.due(now=at(70), policy=POLICY).agents == ()
    again = live.due(now=at(76), policy=POLICY)
    assert [(t.agent_id, t.silent_seconds) for t in again.agents] == [("a1", 30.0)]


def test_heartbeats_keep_an_agent_alive_and_a_late_one_does_not_go_back_in_time() -> None:
    live = Liveness()
    for s in range(0, 100, 10):
        live.heartbeat("a1", now=at(s))
        assert live.due(now=at(s + 5), policy=POLICY).agents == ()
    live.heartbeat("a1", now=at(50))  # observed out of order
    assert live.agents["a1"].last_seen == at(90)


def test_task_deadline_passed_is_reported_once() -> None:
    live = Liveness()
    live.watch(workflow_id="wf", task_id="t1", agent_id="a1", now=T0, deadline=at(600))
    for s in range(0, 600, 20):
        live.heartbeat("a1", now=at(s))
    live.heartbeat("a1", now=at(599))
    assert live.due(now=at(599), policy=POLICY).tasks == ()
    due = live.due(now=at(600), policy=POLICY)
    assert [(t.task_id, t.reason) for t in due.tasks] == [("t1", "deadline")]
    assert due.tasks[0].data() == {
        "task_id": "t1",
        "agent_id": "a1",
        "timeout_duration": "10m",
        "reason": "deadline",
    }
    assert live.due(now=at(700), policy=POLICY).tasks == ()


def test_tasks_of_a_timed_out_agent_time_out_with_it() -> None:
    live = Liveness()
    live.watch(workflow_id="wf", task_id="t2", agent_id="a1", now=T0)
    live.watch(workflow_id="wf", task_id="t1", agent_id="a1", now=at(5), deadline=at(3600))
    live.watch(workflow_id="wf", task_id="t3", agent_id="a2", now=T0)
    live.heartbeat("a2", now=at(25))
    due = live.due(now=at(31), policy=POLICY)
    assert [t.agent_id for t in due.agents] == ["a1"]
    assert [(t.task_id, t.reason, t.running_seconds) for t in due.tasks] == [
        ("t1", "agent_timeout", 26.0),
        ("t2", "agent_timeout", 31.0),
    ]
    assert due.tasks[0].data()["timeout_duration"] == "26s"
    # The agent comes back: its tasks stay timed out (they were reassigned meanwhile).
    live.heartbeat("a1", now=at(40))
    assert live.due(now=at(42), policy=POLICY) == Due()


def test_an_agent_is_tracked_from_its_first_task() -> None:
    live = Liveness()
    live.watch(workflow_id="wf", task_id="t", agent_id="quiet", now=T0)
    assert live.agents["quiet"].last_seen == T0
    assert [a.agent_id for a in live.due(now=at(30), policy=POLICY).agents] == ["quiet"]


def test_watching_again_on_reassignment_restarts_the_task() -> None:
    live = Liveness()
    live.watch(workflow_id="wf", task_id="t", agent_id="a1", now=T0, deadline=at(10))
    assert len(live.due(now=at(10), policy=POLICY).tasks) == 1
    live.watch(workflow_id="wf", task_id="t", agent_id="a2", now=at(11), deadline=at(100))
    live.heartbeat("a2", now=at(50))
    live.heartbeat("a1", now=at(50))
    assert live.due(now=at(60), policy=POLICY).tasks == ()
    assert [t.agent_id for t in live.due(now=at(100), policy=POLICY).tasks] == ["a2"]


def test_progress_is_a_sign_of_life_and_may_move_the_deadline() -> None:
    live = Liveness()
    live.watch(workflow_id="wf", task_id="t", agent_id="a1", now=T0, deadline=at(60))
    assert live.progress(workflow_id="wf", task_id="t", now=at(25), deadline=at(120)) is False
    assert live.due(now=at(54.9), policy=POLICY) == Due()  # silent since 25, deadline 120
    later = live.due(now=at(100), policy=POLICY)
    assert [a.agent_id for a in later.agents] == ["a1"]
    assert [t.reason for t in later.tasks] == ["agent_timeout"]
    assert live.progress(workflow_id="wf", task_id="t", now=at(101)) is True
    assert live.progress(workflow_id="wf", task_id="unknown", now=at(101)) is False


def test_unwatched_tasks_and_forgotten_agents_are_not_reported() -> None:
    live = Liveness()
    live.watch(workflow_id="wf", task_id="t", agent_id="a1", now=T0, deadline=at(5))
    assert live.unwatch(workflow_id="wf", task_id="t") is True
    assert live.unwatch(workflow_id="wf", task_id="t") is False
    assert live.forget_agent("a1") is True
    assert live.forget_agent("a1") is False
    due = live.due(now=at(1000), policy=POLICY)
    assert (due.agents, due.tasks) == ((), ())


def test_tasks_of_different_workflows_are_apart() -> None:
    live = Liveness()
    live.watch(workflow_id="w1", task_id="t", agent_id=None, now=T0, deadline=at(10))
    live.watch(workflow_id="w2", task_id="t", agent_id=None, now=T0, deadline=at(20))
    assert [t.workflow_id for t in live.due(now=at(15), policy=POLICY).tasks] == ["w1"]
    assert sorted(live.tasks) == ["w1:t", "w2:t"]


def test_next_due() -> None:
    live = Liveness()
    assert live.next_due(policy=POLICY) is None
    live.heartbeat("a1", now=at(10))
    live.watch(workflow_id="wf", task_id="t", agent_id="a1", now=at(10), deadline=at(25))
    assert live.next_due(policy=POLICY) == at(25)
    live.due(now=at(25), policy=POLICY)
    assert live.next_due(policy=POLICY) == at(40)
    live.watch(workflow_id="wf", task_id="u", agent_id="a1", now=at(30))
    live.due(now=at(40), policy=POLICY)
    assert live.next_due(policy=POLICY) is None


def test_a_late_report_of_another_agent_does_not_end_the_holders_watch() -> None:
    """Issue 16, point 1: a1 was paused, its task went to a2; a1's late report must not
    stop recovery from watching a2's assignment."""
    live = Liveness()
    trace = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    live.watch(workflow_id="wf", task_id="t", agent_id="a2", now=T0, trace_context=trace)
    assert not live.unwatch(workflow_id="wf", task_id="t", agent_id="a1")
    live.heartbeat("a1", now=at(30))  # a1 is alive; a2 fell silent
    due = live.due(now=at(30), policy=POLICY)
    assert [(t.task_id, t.agent_id, t.reason) for t in due.tasks] == [("t", "a2", "agent_timeout")]
    assert due.tasks[0].trace_context == trace  # the timeout stays in the workflow's trace
    assert live.unwatch(workflow_id="wf", task_id="t", agent_id="a2")


def test_round_trip_through_a_dict() -> None:
    live = Liveness()
    live.heartbeat("a1", now=T0)
    live.watch(workflow_id="wf", task_id="t", agent_id="a1", now=T0, deadline=at(60))
    live.due(now=at(30), policy=POLICY)
    back = Liveness.from_dict(live.to_dict())
    assert back == live
    assert back.due(now=at(35), policy=POLICY).agents == ()


def test_timeout_data_passes_the_strict_event_registry() -> None:
    live = Liveness()
    live.watch(workflow_id="wf", task_id="t", agent_id="a1", now=T0)
    due = live.due(now=at(30), policy=POLICY)
    strict = EventRegistry(strict=True)
    strict.check("AGENT_TIMEOUT", due.agents[0].data())
    strict.check("TASK_TIMEOUT", due.tasks[0].data())


@given(st.lists(st.tuples(st.sampled_from(["beat", "check"]), st.floats(0, 40)), max_size=40))
def test_each_outage_is_reported_exactly_once(steps: list[tuple[str, float]]) -> None:
    live = Liveness()
    live.heartbeat("a", now=T0)
    clock, outages, reports = 0.0, 0, 0
    silent_since = 0.0
    counted = False
    for what, gap in steps:
        clock += gap
        if what == "beat":
            live.heartbeat("a", now=at(clock))
            silent_since, counted = clock, False
        else:
            reports += len(live.due(now=at(clock), policy=POLICY).agents)
            # Judged on the datetimes the liveness sees (microseconds), not on raw floats.
            silent = at(clock) - at(silent_since)
            if silent >= timedelta(seconds=POLICY.timeout_seconds) and not counted:
                outages, counted = outages + 1, True
    assert reports == outages

"""The recovery decision, and restoring a checkpoint keeping completed work."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from baton_recovery.backoff import BackoffPolicy
from baton_recovery.classify import Classification, classify
from baton_recovery.plan import RecoveryPolicy, decide, merge_restore

POLICY = RecoveryPolicy(backoff=BackoffPolicy(base=2, max_attempts=3, jitter="full"))


def half() -> float:
    return 0.5


def of(event_type: str, **data: Any) -> Classification:
    return classify(event_type=event_type, data=data)


def test_a_conflict_is_retried_with_a_backoff_delay() -> None:
    d = decide(classification=of("RESOURCE_CONFLICT"), attempts=2, policy=POLICY, rand=half)
    assert d.kind == "retry"
    assert d.delay_seconds == 0.5 * 4  # full jitter of 2 * 2^(2 - 1)
    assert d.attempt == 3
    assert d.suggestions[0].strategy == "retry"
    assert d.reason.startswith("retry: Retry the task")
    assert "resource/conflict after 2 attempts" in d.reason


def test_a_decorrelated_retry_uses_the_previous_delay() -> None:
    policy = RecoveryPolicy(backoff=BackoffPolicy(base=1, jitter="decorrelated"))
    d = decide(
        classification=of("RESOURCE_CONFLICT"),
        attempts=1,
        policy=policy,
        rand=half,
        previous_delay=4,
    )
    assert d.delay_seconds == 1 + 0.5 * 11


def test_a_timed_out_agent_is_avoided() -> None:
    d = decide(
        classification=of("AGENT_TIMEOUT", agent_id="a3"),
        attempts=1,
        policy=POLICY,
        rand=half,
        agent_id="a3",
    )
    assert d.kind == "reassign"
    assert d.avoid_agents == ("a3",)
    assert d.delay_seconds == 0


def test_corruption_restores_the_checkpoint() -> None:
    corrupt = of("TASK_FAILED", failure_reason="corrupt state")
    d = decide(classification=corrupt, attempts=1, policy=POLICY, rand=half, checkpoint_id="ckpt_7")
    assert (d.kind, d.checkpoint_id) == ("restore", "ckpt_7")
    no_restore = RecoveryPolicy(allow_restore=False)
    d = decide(classification=corrupt, attempts=1, policy=no_restore, rand=half, checkpoint_id="c")
    assert d.kind != "restore"


def test_exhausted_attempts_skip_an_optional_task_or_fall_back() -> None:
    c = of("TASK_FAILED", failure_reason="boom")
    assert decide(classification=c, attempts=3, policy=POLICY, rand=half).kind == "fail"
    assert (
        decide(classification=c, attempts=3, policy=POLICY, rand=half, skippable=True).kind
        == "skip"
    )
    no_skip = RecoveryPolicy(allow_skip=False, fallback="escalate")
    d = decide(classification=c, attempts=3, policy=no_skip, rand=half, skippable=True)
    assert d.kind == "escalate"
    assert d.attempt == 3


def test_an_unrecoverable_error_goes_straight_to_the_fallback() -> None:
    c = of("X", classification={"category": "state", "type": "corruption", "recoverable": False})
    d = decide(classification=c, attempts=1, policy=POLICY, rand=half, checkpoint_id="c")
    assert d.kind == "fail"
    assert "not recoverable" in d.reason
    assert d.suggestions == ()


def test_decision_to_dict() -> None:
    d = decide(
        classification=of("AGENT_TIMEOUT"), attempts=1, policy=POLICY, rand=half, agent_id="a"
    )
    data = d.to_dict()
    assert data["kind"] == "reassign"
    assert data["avoid_agents"] == ["a"]
    assert data["suggestions"][0]["strategy"] == "agent_reallocation"


@given(
    event=st.sampled_from(["TASK_FAILED", "AGENT_TIMEOUT", "RESOURCE_CONFLICT", "TASK_TIMEOUT"]),
    attempts=st.integers(min_value=0, max_value=6),
    breaker=st.sampled_from(["closed", "open", "half_open"]),
    checkpoint=st.none() | st.just("ckpt_1"),
    skippable=st.booleans(),
    spare=st.booleans(),
    r=st.floats(min_value=0, max_value=0.999),
)
def test_decisions_respect_the_policy_limits(
    event: str, attempts: int, breaker: Any, checkpoint: str | None, skippable: bool,
    spare: bool, r: float,
) -> None:  # fmt: skip
    d = decide(
        classification=of(event),
        attempts=attempts,
        policy=POLICY,
        rand=lambda: r,
        agent_id="a1",
        breaker=breaker,
        checkpoint_id=checkpoint,
        skippable=skippable,
        spare_agents=spare,
    )
    if d.kind in {"retry", "reassign", "restore"}:
        assert max(1, attempts) < POLICY.backoff.max_attempts
        assert d.attempt == max(1, attempts) + 1
    if d.kind == "retry":
        assert breaker != "open"
        assert 0 <= d.delay_seconds <= POLICY.backoff.max_delay
    if d.kind == "reassign":
        assert spare
        assert d.avoid_agents == ("a1",)
    if d.kind == "restore":
        assert d.checkpoint_id == "ckpt_1"
    if d.kind == "skip":
        assert skippable
    assert d.kind != "escalate"  # the policy falls back to fail
    assert d.suggestions[0].strategy in d.reason


CHECKPOINT: dict[str, Any] = {
    "workflow_id": "wf_001",
    "state_version": 10,
    "current_phase": "implementation",
    "tasks": {
        "research": {"status": "completed", "results": {"doc": "r"}, "attempts": 1},
        "impl": {
            "status": "running",
            "agent_id": "a1",
            "started_at": "t",
            "attempts": 1,
            "fencing_token": 1,
        },
        "test": {"status": "pending", "attempts": 0},
        "lint": {"status": "failed", "failure_reason": "x", "error_count": 1, "results": None},
        "docs": {"status": "ready"},
    },
}
CURRENT: dict[str, Any] = {
    "workflow_id": "wf_001",
    "state_version": 14,
    "current_phase": "testing",
    "tasks": {
        "research": {"status": "completed", "results": {"doc": "r2"}, "attempts": 1},
        "impl": {
            "status": "completed",
            "agent_id": "a1",
            "results": {"ok": True},
            "attempts": 2,
            "fencing_token": 3,
        },
        "test": {"status": "running", "agent_id": "a2", "attempts": 1, "fencing_token": 1},
        "lint": {"status": "skipped", "error_count": 3},
        "docs": {"status": "failed", "error_count": 2, "failure_reason": "corrupt"},
        "extra": {"status": "running", "agent_id": "a4", "depends_on": ["impl"]},
    },
}


def test_restore_keeps_completed_work_and_resets_the_rest() -> None:
    before = copy.deepcopy((CHECKPOINT, CURRENT))
    out = merge_restore(checkpoint=CHECKPOINT, current=CURRENT)
    assert before == (CHECKPOINT, CURRENT)  # inputs untouched
    tasks = out.state["tasks"]
    # Done now → as it is now (results included); kept lists those done since the checkpoint.
    assert tasks["impl"] == CURRENT["tasks"]["impl"]
    assert tasks["research"]["results"] == {"doc": "r2"}
    assert tasks["lint"]["status"] == "skipped"
    assert out.kept == ("impl", "lint")
    # Not done now → from the checkpoint; in flight or failed there → pending.
    assert tasks["test"] == {"status": "pending", "attempts": 1, "fencing_token": 1}
    assert tasks["docs"] == {"status": "ready", "error_count": 2}
    assert tasks["extra"] == {"status": "pending", "agent_id": None, "depends_on": ["impl"]}
    assert set(out.reset) == {"extra"}
    # Everything else from the checkpoint; the version moves on.
    assert out.state["current_phase"] == "implementation"
    assert out.state["state_version"] == 15


def test_restore_resets_in_flight_and_failed_checkpoint_tasks() -> None:
    running = {"status": "running", "agent_id": "x", "assigned_at": "t", "progress": 50}
    checkpoint = {
        "tasks": {
            "a": {**running, "fencing_token": 4},
            "b": {"status": "failed", "failure_reason": "boom", "results": {"partial": 1}},
            "c": {"status": "assigned", "agent": "y"},
        }
    }
    current = {"tasks": {"a": {"status": "running", "fencing_token": 5}, "b": {"status": "failed"}}}
    out = merge_restore(checkpoint=checkpoint, current=current)
    cleared = {"agent_id": None, "assigned_at": None, "progress": None}
    assert out.state["tasks"] == {
        "a": {"status": "pending", **cleared, "fencing_token": 5},
        "b": {"status": "pending", "failure_reason": None, "results": None},
        "c": {"status": "pending", "agent": None},
    }
    assert out.reset == ("a", "b", "c")
    assert out.kept == ()
    assert "state_version" not in out.state


def test_restore_shares_nothing_with_its_inputs() -> None:
    out = merge_restore(checkpoint=CHECKPOINT, current=CURRENT)
    out.state["tasks"]["impl"]["results"]["ok"] = False
    out.state["tasks"]["research"]["results"]["doc"] = "changed"
    assert CURRENT["tasks"]["impl"]["results"] == {"ok": True}
    assert CHECKPOINT["tasks"]["research"]["results"] == {"doc": "r"}


def test_restore_without_tasks() -> None:
    out = merge_restore(checkpoint={"x": 1}, current={"tasks": "nonsense"})
    assert out.state == {"x": 1, "tasks": {}}


STATUSES = ["pending", "ready", "assigned", "running", "completed", "failed", "skipped"]
task_maps = st.dictionaries(
    st.sampled_from(["t1", "t2", "t3", "t4", "t5"]),
    st.fixed_dictionaries(
        {"status": st.sampled_from(STATUSES), "attempts": st.integers(0, 5)},
        optional={"agent_id": st.sampled_from(["a1", "a2"])},
    ),
)


@given(task_maps, task_maps)
def test_restore_properties(then: dict[str, Any], now: dict[str, Any]) -> None:
    out = merge_restore(checkpoint={"tasks": then}, current={"tasks": now})
    tasks = out.state["tasks"]
    assert set(tasks) == set(then) | set(now)
    for task_id, task in tasks.items():
        # Nothing is left in flight or failed.
        assert task["status"] not in {"assigned", "running", "failed"}
        # Work done now stays done.
        if now.get(task_id, {}).get("status") in {"completed", "skipped"}:
            assert {**task, "attempts": now[task_id]["attempts"]} == now[task_id]
        # Counters never go backwards.
        for side in (then, now):
            if task_id in side:
                assert task["attempts"] >= side[task_id]["attempts"]
        if task["status"] == "pending" and task_id in out.reset:
            assert task.get("agent_id") is None

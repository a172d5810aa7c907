"""The recovery decision, and restoring a checkpoint keeping completed work."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from baton.backoff import BackoffPolicy
from baton_recovery.config import RecoveryConfig
from baton_recovery.failures.classify import Classification, classify
from baton_recovery.failures.plan import RecoveryPolicy, decide

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
    # A reassignment waits the backoff too: full jitter of the 2 s ceiling.
    assert d.delay_seconds == 0.5 * 2
    assert d.reason.endswith("next attempt in 1.000s")


@given(rands=st.lists(st.floats(min_value=0, max_value=0.999999), min_size=5, max_size=5))
def test_the_service_policy_spaces_attempts_by_growing_delays(rands: list[float]) -> None:
    """Whatever the jitter draws, each retry or reassignment waits longer than the last
    (until the cap), for the failures that move the task and those that keep it."""
    config = RecoveryConfig(retry_base=0.5, retry_max_delay=60, max_attempts=6)
    for failure in ("tool crashed", "connection reset by tool"):
        delays = []
        draws = iter(rands)  # one draw per decision
        for attempts in range(1, len(rands) + 1):
            d = decide(
                classification=of("TASK_FAILED", failure_reason=failure),
                attempts=attempts,
                policy=config.recovery(),
                rand=draws.__next__,
                agent_id="a1",
            )
            assert d.kind in {"retry", "reassign"}, d.reason
            ceiling = 0.5 * 2 ** (attempts - 1)
            assert ceiling / 2 <= d.delay_seconds < ceiling
            delays.append(d.delay_seconds)
        assert all(a < b for a, b in itertools.pairwise(delays)), delays


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
        assert not POLICY.backoff.exhausted(max(1, attempts))
        assert d.attempt == max(1, attempts) + 1
    if d.kind == "retry":
        assert breaker != "open"
    if d.kind in {"retry", "reassign"}:
        assert 0 <= d.delay_seconds <= POLICY.backoff.max_delay
        assert d.delay_seconds == POLICY.backoff.delay(attempt=max(1, attempts), rand=lambda: r)
    else:
        assert d.delay_seconds == 0
    if d.kind == "reassign":
        assert spare
        assert d.avoid_agents == ("a1",)
    if d.kind == "restore":
        assert d.checkpoint_id == "ckpt_1"
    if d.kind == "skip":
        assert skippable
    assert d.kind != "escalate"  # the policy falls back to fail
    assert d.suggestions[0].strategy in d.reason

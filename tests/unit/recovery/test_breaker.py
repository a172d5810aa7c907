"""Circuit breakers: closed → open after K failures in a window → half-open → closed."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from baton_recovery.failures.breaker import Breaker, BreakerPolicy, BreakerRegistry
from tests.unit.recovery.support import T0, at

POLICY = BreakerPolicy(failure_threshold=3, window_seconds=60, cooldown_seconds=30)


def fail_times(reg: BreakerRegistry, agent: str, *seconds: float) -> None:
    for s in seconds:
        reg.record_failure(agent, now=at(s), policy=POLICY)


def test_opens_after_k_failures_within_the_window() -> None:
    reg = BreakerRegistry()
    fail_times(reg, "a1", 0, 10)
    assert reg.state("a1", now=at(11), policy=POLICY) == "closed"
    change = reg.record_failure("a1", now=at(20), policy=POLICY)
    assert (change.before, change.after, change.changed) == ("closed", "open", True)
    assert not reg.allows("a1", now=at(21), policy=POLICY)
    assert reg.breakers["a1"].times_opened == 1


def test_failures_outside_the_window_do_not_count() -> None:
    reg = BreakerRegistry()
    fail_times(reg, "a1", 0, 10, 70, 75)  # 0 and 10 have left the window by 75
    assert reg.state("a1", now=at(76), policy=POLICY) == "closed"
    fail_times(reg, "a1", 80)
    assert reg.state("a1", now=at(80), policy=POLICY) == "open"


def test_half_open_after_the_cooldown_allows_limited_trials() -> None:
    reg = BreakerRegistry()
    fail_times(reg, "a1", 0, 1, 2)
    assert reg.state("a1", now=at(31.9), policy=POLICY) == "open"
    assert reg.state("a1", now=at(32), policy=POLICY) == "half_open"
    assert reg.allows("a1", now=at(32), policy=POLICY)
    reg.record_attempt("a1", now=at(32), policy=POLICY)
    assert not reg.allows("a1", now=at(33), policy=POLICY)  # one trial at a time
    two = BreakerPolicy(failure_threshold=1, cooldown_seconds=5, half_open_trials=2)
    b = Breaker()
    b.record_failure(now=T0, policy=two)
    b.record_attempt(now=at(5), policy=two)
    assert b.allows(now=at(5), policy=two)


def test_a_success_while_half_open_closes_it() -> None:
    reg = BreakerRegistry()
    fail_times(reg, "a1", 0, 1, 2)
    change = reg.record_success("a1", now=at(40), policy=POLICY)
    assert (change.before, change.after) == ("half_open", "closed")
    assert reg.breakers["a1"].failures == []
    # Its old failures are forgotten: it takes K new ones to open again.
    fail_times(reg, "a1", 41, 42)
    assert reg.state("a1", now=at(42), policy=POLICY) == "closed"


def test_a_failure_while_half_open_opens_it_for_a_new_cooldown() -> None:
    reg = BreakerRegistry()
    fail_times(reg, "a1", 0, 1, 2)
    change = reg.record_failure("a1", now=at(40), policy=POLICY)
    assert (change.before, change.after) == ("half_open", "open")
    assert reg.state("a1", now=at(69), policy=POLICY) == "open"
    assert reg.state("a1", now=at(70), policy=POLICY) == "half_open"
    assert reg.breakers["a1"].times_opened == 2


def test_reports_while_open_are_ignored() -> None:
    reg = BreakerRegistry()
    fail_times(reg, "a1", 0, 1, 2)
    late_fail = reg.record_failure("a1", now=at(10), policy=POLICY)
    late_ok = reg.record_success("a1", now=at(11), policy=POLICY)
    assert not late_fail.changed
    assert not late_ok.changed
    assert reg.state("a1", now=at(32), policy=POLICY) == "half_open"  # cooldown from t=2


def test_a_success_while_closed_does_not_clear_failures() -> None:
    reg = BreakerRegistry()
    fail_times(reg, "a1", 0, 1)
    reg.record_success("a1", now=at(2), policy=POLICY)
    fail_times(reg, "a1", 3)
    assert reg.state("a1", now=at(3), policy=POLICY) == "open"


def test_unknown_agents_are_closed() -> None:
    reg = BreakerRegistry()
    assert reg.state("new", now=T0, policy=POLICY) == "closed"
    assert reg.allows("new", now=T0, policy=POLICY)
    assert not reg.record_success("new", now=T0, policy=POLICY).changed
    assert not reg.record_attempt("new", now=T0, policy=POLICY).changed
    assert reg.breakers == {}


def test_not_closed_and_prune() -> None:
    reg = BreakerRegistry()
    fail_times(reg, "b", 0, 1, 2)
    fail_times(reg, "a", 0)
    fail_times(reg, "c", 50)
    assert reg.not_closed(now=at(3), policy=POLICY) == {"b": "open"}
    assert reg.not_closed(now=at(40), policy=POLICY) == {"b": "half_open"}
    assert reg.prune(now=at(61), policy=POLICY) == ["a"]
    assert sorted(reg.breakers) == ["b", "c"]


def test_registry_round_trips_through_a_dict() -> None:
    reg = BreakerRegistry()
    fail_times(reg, "a1", 0, 1, 2)
    fail_times(reg, "a2", 5)
    reg.record_attempt("a1", now=at(40), policy=POLICY)
    data = reg.to_dict()
    assert data["breakers"]["a2"]["failures"] == ["2025-01-15T12:00:05Z"]
    back = BreakerRegistry.from_dict(data)
    assert back == reg
    assert back.state("a1", now=at(40), policy=POLICY) == "half_open"
    assert not back.allows("a1", now=at(40), policy=POLICY)


def test_naive_times_are_utc() -> None:
    b = Breaker()
    naive = datetime(2025, 1, 15, 12, 0)
    for _ in range(3):
        b.record_failure(now=naive, policy=POLICY)
    assert b.opened_at == T0
    assert b.state(now=datetime(2025, 1, 15, 12, 0, 31), policy=POLICY) == "half_open"


@given(st.lists(st.tuples(st.sampled_from(["fail", "ok", "try"]), st.floats(0, 20)), max_size=40))
def test_breaker_invariants(steps: list[tuple[str, float]]) -> None:
    b = Breaker()
    clock = 0.0
    for what, gap in steps:
        clock += gap
        now = at(clock)
        before = b.state(now=now, policy=POLICY)
        if what == "fail":
            after = b.record_failure(now=now, policy=POLICY)
            if before == "half_open":
                assert after == "open"
        elif what == "ok":
            after = b.record_success(now=now, policy=POLICY)
            assert after == ("closed" if before == "half_open" else before)
        else:
            after = b.record_attempt(now=now, policy=POLICY)
            assert after == before
        assert len(b.failures) < POLICY.failure_threshold
        assert (b.opened_at is None) == (after == "closed")
        assert Breaker.model_validate(b.model_dump(mode="json")) == b

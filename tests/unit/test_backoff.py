"""Exponential backoff: ceilings, every kind of jitter, cap, attempts, endless waits."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.backoff import BackoffPolicy, schedule


def fixed(value: float) -> Any:
    return lambda: value


def test_ceiling_doubles_from_base_up_to_the_cap() -> None:
    policy = BackoffPolicy(base=1, factor=2, max_delay=10, max_attempts=10)
    assert [policy.ceiling(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert policy.ceiling(10**9) == 10  # no overflow
    assert BackoffPolicy(factor=1).ceiling(50) == 1


def test_no_jitter_is_the_seed_000_doubling() -> None:
    policy = BackoffPolicy(jitter="none", max_attempts=4)
    assert schedule(policy, rand=fixed(0.5)) == [1, 2, 4]


def test_equal_jitter_keeps_the_upper_half_of_the_ceiling_and_is_the_default() -> None:
    policy = BackoffPolicy(base=2, max_attempts=5, jitter="equal")
    assert policy.delay(attempt=3, rand=fixed(0.0)) == 4  # half of 2 * 2^2
    assert policy.delay(attempt=3, rand=fixed(0.5)) == 4 + 0.5 * 4
    assert BackoffPolicy().jitter == "equal"


def test_equal_jitter_delays_grow_whatever_the_draws() -> None:
    """Each delay is at least the previous ceiling, so longer than the previous delay."""
    policy = BackoffPolicy(base=1, max_delay=64, max_attempts=8)
    assert schedule(policy, rand=fixed(0.0)) == [0.5, 1, 2, 4, 8, 16, 32]
    # The largest draw first, the smallest after: still growing.
    draws = iter([0.999999, 0.0] * 4)
    delays = schedule(policy, rand=lambda: next(draws))
    assert all(a < b for a, b in itertools.pairwise(delays)), delays


def test_full_jitter_scales_the_ceiling() -> None:
    policy = BackoffPolicy(base=2, max_attempts=5, jitter="full")
    assert policy.delay(attempt=3, rand=fixed(0.25)) == 0.25 * 8
    assert policy.delay(attempt=1, rand=fixed(0.0)) == 0.0


def test_decorrelated_jitter_grows_from_the_previous_delay() -> None:
    policy = BackoffPolicy(base=1, max_delay=100, max_attempts=10, jitter="decorrelated")
    assert policy.delay(attempt=1, rand=fixed(0.0)) == 1
    assert policy.delay(attempt=1, rand=fixed(1.0)) == 3  # 3 times base
    assert policy.delay(attempt=2, rand=fixed(0.5), previous=10) == 1 + 0.5 * 29
    assert policy.delay(attempt=2, rand=fixed(1.0), previous=90) == 100  # capped


def test_no_delay_once_attempts_run_out() -> None:
    policy = BackoffPolicy(max_attempts=3)
    assert policy.delay(attempt=2, rand=fixed(0.5)) is not None
    assert policy.delay(attempt=3, rand=fixed(0.5)) is None
    assert policy.exhausted(3)
    assert not policy.exhausted(2)
    assert len(schedule(policy, rand=fixed(0.5))) == 2
    assert schedule(BackoffPolicy(max_attempts=1), rand=fixed(0.5)) == []


def test_the_same_seed_gives_the_same_delays() -> None:
    policy = BackoffPolicy(max_attempts=8, jitter="decorrelated")
    first = schedule(policy, rand=random.Random(42).random)
    assert first == schedule(policy, rand=random.Random(42).random)
    assert first != schedule(policy, rand=random.Random(43).random)


def test_expected_delay() -> None:
    assert BackoffPolicy(jitter="none").expected_delay(2) == 2
    assert BackoffPolicy(jitter="full").expected_delay(2) == 1
    assert BackoffPolicy(jitter="equal").expected_delay(2) == 1.5
    assert BackoffPolicy(jitter="decorrelated").expected_delay(2) == 1.5
    assert BackoffPolicy(max_attempts=2).expected_delay(2) == 0
    assert BackoffPolicy().expected_delay(0) == 0


@pytest.mark.parametrize(
    "bad",
    [{"base": 0}, {"factor": 0.5}, {"max_delay": 0.5}, {"max_attempts": 0},
     {"base": float("inf")}, {"spread": 1.0}, {"spread": -0.1}],
)  # fmt: skip
def test_invalid_policies_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        BackoffPolicy(**bad)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="counts from 1"):
        BackoffPolicy().delay(attempt=0, rand=fixed(0.5))
    with pytest.raises(ValueError, match="outside"):
        BackoffPolicy().delay(attempt=1, rand=fixed(1.5))


@given(
    base=st.floats(min_value=0.001, max_value=10),
    factor=st.floats(min_value=1, max_value=4),
    cap=st.floats(min_value=10, max_value=1000),
    attempts=st.integers(min_value=1, max_value=30),
    jitter=st.sampled_from(["none", "equal", "full", "decorrelated", "proportional"]),
    seed=st.integers(),
)
def test_delays_stay_within_bounds(
    base: float, factor: float, cap: float, attempts: int, jitter: Any, seed: int
) -> None:
    policy = BackoffPolicy(
        base=base, factor=factor, max_delay=cap, max_attempts=attempts, jitter=jitter
    )
    delays = schedule(policy, rand=random.Random(seed).random)
    assert len(delays) == attempts - 1
    for n, delay in enumerate(delays, start=1):
        assert 0 <= delay <= cap
        if jitter == "full":
            assert delay <= policy.ceiling(n)
        if jitter == "equal":
            assert policy.ceiling(n) / 2 <= delay <= policy.ceiling(n)
            if n > 1 and policy.ceiling(n) >= 2 * policy.ceiling(n - 1):
                assert delay > delays[n - 2]
        if jitter == "decorrelated":
            assert delay >= base
        if jitter == "none":
            assert delay == policy.ceiling(n)
        if jitter == "proportional":
            assert 0.9 * policy.ceiling(n) <= delay <= min(cap, 1.1 * policy.ceiling(n))


@given(
    base=st.floats(min_value=0.001, max_value=10),
    factor=st.floats(min_value=1, max_value=4),
    cap=st.floats(min_value=10, max_value=1000),
)
def test_ceilings_grow_monotonically_to_the_cap(base: float, factor: float, cap: float) -> None:
    policy = BackoffPolicy(base=base, factor=factor, max_delay=cap, max_attempts=None)
    ceilings = [policy.ceiling(n) for n in range(1, 80)]
    assert ceilings[0] == base
    assert all(a <= b for a, b in itertools.pairwise(ceilings))
    assert all(c <= cap for c in ceilings)
    if factor >= 1.5:
        assert ceilings[-1] == cap


@given(
    spread=st.floats(min_value=0, max_value=0.99),
    unit=st.floats(min_value=0, max_value=1),
    attempt=st.integers(min_value=1, max_value=20),
)
def test_proportional_jitter_stays_within_its_spread(
    spread: float, unit: float, attempt: int
) -> None:
    policy = BackoffPolicy(
        base=1, max_delay=1e6, max_attempts=None, jitter="proportional", spread=spread
    )
    delay = policy.pause(attempt=attempt, rand=fixed(unit))
    ceiling = policy.ceiling(attempt)
    assert (1 - spread) * ceiling - 1e-9 <= delay <= (1 + spread) * ceiling + 1e-9


def test_without_a_limit_the_waits_go_on_at_the_cap() -> None:
    policy = BackoffPolicy(base=0.5, max_delay=4, max_attempts=None, jitter="none")
    waits = policy.waits()
    assert list(itertools.islice(waits, 6)) == [0.5, 1, 2, 4, 4, 4]
    assert next(waits) == 4
    assert not policy.exhausted(10**6)
    with pytest.raises(ValueError, match="no end"):
        schedule(policy, rand=fixed(0.5))


def test_pause_ignores_the_limit_that_delay_keeps() -> None:
    policy = BackoffPolicy(max_attempts=2, jitter="none")
    assert policy.delay(attempt=2) is None
    assert policy.pause(attempt=2) == 2

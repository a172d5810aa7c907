"""Saturation: which limits are exceeded, and hysteresis for admission control."""

from __future__ import annotations

import pytest

from baton_monitor.saturation import Saturation, SaturationLimits, event_data, saturated, track
from tests.unit.monitor.support import at

LIMITS = SaturationLimits()


def test_nothing_over_its_limit_is_not_saturated() -> None:
    calm = {"latency_p95": 0.4, "consumer_lag:baton-hub": 12.0, "agent_utilisation": 60.0}
    assert saturated(calm, limits=LIMITS) == (False, "")
    assert saturated({}, limits=LIMITS) == (False, "")


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"latency_p95": 7.5}, "latency_p95 7.5 > 5"),
        ({"consumer_lag:baton-hub": 12_000.0}, "consumer_lag:baton-hub 12000 > 10000"),
        ({"agent_utilisation": 100.0}, "agent_utilisation 100 > 95"),
    ],
)
def test_each_limit_saturates_and_the_reason_names_it(
    values: dict[str, float], reason: str
) -> None:
    assert saturated(values, limits=LIMITS) == (True, reason)


def test_the_reason_lists_every_value_over_its_limit_in_limit_order() -> None:
    values = {"agent_utilisation": 99.0, "latency_p95": 6.0, "queue_depth": 80.0}
    limits = SaturationLimits(consumer_lag=None, extra={"queue_depth": 50.0})
    assert saturated(values, limits=limits) == (
        True,
        "latency_p95 6 > 5; agent_utilisation 99 > 95; queue_depth 80 > 50",
    )
    assert saturated({"consumer_lag": 10**9}, limits=limits) == (False, "")


def test_tracking_enters_at_the_limit_and_leaves_below_the_release_level() -> None:
    state = Saturation()
    steps = [(4.0, False), (6.0, True), (4.5, False), (3.9, True), (5.5, True), (3.0, True)]
    seen = []
    for second, (latency, flipped) in enumerate(steps):
        state, changed = track(state, {"latency_p95": latency}, limits=LIMITS, now=at(second))
        assert changed is flipped, second
        seen.append(state.saturated)
    assert seen == [False, True, True, False, True, False]
    assert event_data(state) == {"saturated": False, "reason": "", "since": "2025-01-15T12:00:05Z"}


def test_while_saturated_the_reason_follows_the_values() -> None:
    state, _ = track(Saturation(), {"latency_p95": 9.0}, limits=LIMITS, now=at(0))
    state, changed = track(
        state, {"latency_p95": 4.5, "agent_utilisation": 97.0}, limits=LIMITS, now=at(1)
    )
    assert not changed
    assert state.reason == "agent_utilisation 97 > 95"
    assert state.since == at(0)
    assert Saturation.model_validate_json(state.model_dump_json()) == state

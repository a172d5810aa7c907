"""Tumbling and hopping window membership, retention and accumulation."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton_monitor.windows import (
    MetricWindow,
    WindowSpec,
    add_outcome,
    add_value,
    count_event,
    labels_key,
    set_gauge,
    to_millis,
    window_start,
    window_starts,
    windows_at,
)
from tests.unit.monitor.support import T0, at


def test_a_tumbling_window_holds_its_start_and_not_its_end() -> None:
    assert window_start(T0, size=60) == T0
    assert window_start(at(59.999), size=60) == T0
    assert window_start(at(60), size=60) == at(60)
    assert window_start(at(-0.001), size=60) == at(-60)


def test_a_moment_is_in_every_hopping_window_that_covers_it() -> None:
    assert window_starts(at(0), size=300, hop=60) == [at(-240), at(-180), at(-120), at(-60), T0]
    assert window_starts(at(59.999), size=300, hop=60)[0] == at(-240)
    assert window_starts(at(60), size=300, hop=60) == [at(-180), at(-120), at(-60), T0, at(60)]
    assert window_starts(at(30), size=60, hop=60) == [T0]


def test_hops_that_do_not_divide_the_size_still_cover_exactly() -> None:
    starts = window_starts(at(100), size=100, hop=30)
    assert starts == [at(30), at(60), at(90)]
    assert all(s <= at(100) < s + timedelta(seconds=100) for s in starts)


@given(
    offset_ms=st.integers(min_value=-(10**12), max_value=10**12),
    hop_ms=st.integers(min_value=1, max_value=120_000),
    hops=st.integers(min_value=1, max_value=10),
)
def test_membership_property(offset_ms: int, hop_ms: int, hops: int) -> None:
    moment = T0 + timedelta(milliseconds=offset_ms)
    size = hop_ms * hops / 1000
    starts = window_starts(moment, size=size, hop=hop_ms / 1000)
    assert len(starts) == hops == math.ceil(size / (hop_ms / 1000) - 1e-9)
    for start in starts:
        assert to_millis(start) % hop_ms == 0
        assert start <= moment < start + timedelta(milliseconds=hop_ms * hops)
    assert window_start(moment, size=size) in starts


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="hop"):
        window_starts(T0, size=60, hop=120)
    with pytest.raises(ValueError, match="size"):
        window_start(T0, size=0)
    with pytest.raises(ValueError, match="hop"):
        WindowSpec(size=60, hop=61)
    assert WindowSpec(size=60, hop=60).tumbling


def test_windows_are_created_on_demand_and_old_ones_dropped() -> None:
    table: dict[int, MetricWindow] = {}
    spec = WindowSpec(size=300, hop=60)
    assert len(windows_at(table, spec=spec, now=at(10))) == 5
    windows_at(table, spec=spec, now=at(70))
    assert len(table) == 6  # five open and the one that just closed
    windows_at(table, spec=spec, now=at(1000))
    assert sorted(table) == [to_millis(at(s)) for s in range(720, 1000, 60)]
    assert all(w.end > at(1000 - 60) for w in table.values())


def test_a_window_accumulates_counts_samples_outcomes_and_gauges() -> None:
    window = MetricWindow(start=T0, end=at(60))
    count_event(window, event_type="TASK_COMPLETED")
    count_event(window, event_type="TASK_COMPLETED")
    count_event(window, event_type="TASK_FAILED")
    add_value(window, labels=("task_duration", "bug_fix", "agent/1"), value=2.0)
    add_outcome(window, labels=("tasks",), failed=True)
    add_outcome(window, labels=("tasks",), failed=False)
    set_gauge(window, name="consumer_lag:hub", value=10, now=at(1))
    set_gauge(window, name="consumer_lag:hub", value=4, now=at(2))
    assert window.total == 3
    assert window.events == {"TASK_COMPLETED": 2, "TASK_FAILED": 1}
    assert window.series["task_duration/bug_fix/agent%2F1"].samples.values == [2.0]
    assert window.tallies["tasks"].tally.rate == 50.0
    assert (window.gauges["consumer_lag:hub"].last, window.gauges["consumer_lag:hub"].high) == (
        4,
        10,
    )
    assert MetricWindow.model_validate_json(window.model_dump_json()) == window


def test_label_keys_are_one_to_one() -> None:
    assert labels_key(("a/b", "c")) != labels_key(("a", "b/c"))
    assert labels_key(("a%2Fb",)) != labels_key(("a/b",))
    assert labels_key(("latency",)) == "latency"

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
    assemble,
    count_event,
    labels_key,
    merge_windows,
    pane_at,
    pane_size,
    set_gauge,
    to_millis,
    window_start,
    window_starts,
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


def test_panes_are_created_on_demand_and_old_ones_dropped() -> None:
    panes: dict[int, MetricWindow] = {}
    assert pane_size(60, 300, 60) == 60
    assert pane_size(2, 3, 1) == 1
    assert pane_size(0.5, 300, 60) == 0.5
    first = pane_at(panes, size=60, keep=360, now=at(10))
    assert (first.start, first.end) == (T0, at(60))
    assert pane_at(panes, size=60, keep=360, now=at(59)) is first
    pane_at(panes, size=60, keep=360, now=at(1000))
    assert sorted(panes) == [to_millis(at(960))]  # the first ended more than 360 s ago


def _pane(start: float, **events: int) -> MetricWindow:
    pane = MetricWindow(start=at(start), end=at(start + 60))
    for name, count in events.items():
        for _ in range(count):
            count_event(pane, event_type=name)
    return pane


def test_windows_are_made_of_the_panes_they_cover_and_kept_one_hop_after_closing() -> None:
    panes = {to_millis(at(s)): _pane(s, A=1) for s in (0, 60, 120)}
    tumbling = assemble(panes, spec=WindowSpec(size=60, hop=60), now=at(130))
    assert [(w.start, w.total) for w in tumbling] == [(at(60), 1), (at(120), 1)]
    hopping = assemble(panes, spec=WindowSpec(size=300, hop=60), now=at(130))
    assert [(w.start, w.total) for w in hopping] == [  # [-240, 60) closed over a hop ago
        (at(-180), 2),
        (at(-120), 3),
        (at(-60), 3),
        (at(0), 3),
        (at(60), 2),
        (at(120), 1),
    ]
    # Later, the windows that closed more than one hop ago are gone.
    later = assemble(panes, spec=WindowSpec(size=300, hop=60), now=at(290))
    assert [w.start for w in later] == [at(-60), at(0), at(60), at(120)]


def test_merging_adds_counts_merges_values_and_keeps_the_latest_gauge() -> None:
    first, second = _pane(0, A=2), _pane(0, A=1, B=1)
    add_value(first, labels=("latency",), value=1.0)
    add_value(second, labels=("latency",), value=3.0)
    add_outcome(first, labels=("tasks",), failed=True)
    add_outcome(second, labels=("tasks",), failed=False)
    set_gauge(first, name="consumer_lag:hub", value=50, now=at(2))
    set_gauge(second, name="consumer_lag:hub", value=7, now=at(5))
    merged = merge_windows([first, second], start=T0, end=at(60))
    assert merged.events == {"A": 3, "B": 1}
    assert merged.series["latency"].digest.values == [1.0, 3.0]
    assert merged.tallies["tasks"].tally.rate == 50.0
    gauge = merged.gauges["consumer_lag:hub"]
    assert (gauge.last, gauge.high, gauge.at) == (7, 50, at(5))
    assert first.events == {"A": 2}  # the parts are left as they were


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
    assert window.series["task_duration/bug_fix/agent%2F1"].digest.values == [2.0]
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

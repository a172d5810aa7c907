"""Tumbling and hopping windows, the panes they are made of, and what a pane accumulates.

Windows are aligned to the Unix epoch, like Kafka Streams' and faust's: a window of ``size``
seconds advancing by ``hop`` seconds starts at every multiple of ``hop`` and covers
``[start, start + size)``. A tumbling window is the case ``hop == size`` (every moment is in
exactly one); a hopping window with ``hop < size`` holds a moment in ``ceil(size / hop)``
windows when ``hop`` divides ``size``. Arithmetic is in whole milliseconds, so boundaries
never drift with floating-point error.

What happens is counted once, in the *pane* holding the moment: a tumbling window whose size
divides every window size and hop (their greatest common divisor), so each window is the
union of whole panes (:func:`assemble`). Panes are what replicas write and merge, one per
partition of the events topic (:mod:`baton_monitor.panes`).

A :class:`MetricWindow` counts events per type (throughput), tallies outcomes (completed or
failed, for error rates), keeps value digests (latency, durations; :mod:`.digest`) and
gauges (last and highest reading), each keyed by a tuple of labels such as
``("task_duration", "bug_fix", "agent_1")``. The functions change a window in place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from baton_monitor import digest
from baton_monitor.digest import EXACT_CAP, Digest

__all__ = [
    "EPOCH",
    "Gauge",
    "MetricWindow",
    "Series",
    "Tally",
    "TallySeries",
    "WindowSpec",
    "add_outcome",
    "add_value",
    "assemble",
    "count_event",
    "labels_key",
    "merge_windows",
    "pane_at",
    "pane_size",
    "set_gauge",
    "to_millis",
    "window_start",
    "window_starts",
]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""Origin every window is aligned to."""
_MS: Final = timedelta(milliseconds=1)


def to_millis(moment: datetime) -> int:
    """Whole milliseconds since :data:`EPOCH` (naive ``moment`` is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // _MS


def _from_millis(millis: int) -> datetime:
    return EPOCH + millis * _MS


def _span(seconds: float, *, name: str) -> int:
    millis = round(seconds * 1000)
    if millis < 1:
        raise ValueError(f"{name} must be at least 1 ms, got {seconds!r} s")
    return millis


def window_start(moment: datetime, *, size: float) -> datetime:
    """Start of the tumbling window of ``size`` seconds that holds ``moment``.

    Raises:
        ValueError: ``size`` is below 1 ms.
    """
    at, span = to_millis(moment), _span(size, name="size")
    return _from_millis(at - at % span)


def window_starts(moment: datetime, *, size: float, hop: float) -> list[datetime]:
    """Starts of the hopping windows (``size``, every ``hop``) holding ``moment``, oldest first.

    Raises:
        ValueError: ``size`` or ``hop`` is below 1 ms, or ``hop`` exceeds ``size``.
    """
    at, span, step = to_millis(moment), _span(size, name="size"), _span(hop, name="hop")
    if step > span:
        raise ValueError(f"hop ({hop} s) must not exceed size ({size} s)")
    start = at - at % step
    starts: list[datetime] = []
    while start > at - span:
        starts.append(_from_millis(start))
        start -= step
    return starts[::-1]


class WindowSpec(BaseModel):
    """A window shape: ``size`` seconds, advancing by ``hop`` seconds (tumbling if equal)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: float = Field(gt=0)
    """Length of a window in seconds."""
    hop: float = Field(gt=0)
    """Distance between window starts in seconds."""

    @model_validator(mode="after")
    def _hop_fits(self) -> WindowSpec:
        if self.hop > self.size:
            raise ValueError(f"hop ({self.hop} s) must not exceed size ({self.size} s)")
        return self

    @property
    def tumbling(self) -> bool:
        """True when every moment is in exactly one window."""
        return self.hop == self.size


class Tally(BaseModel):
    """Outcomes counted for an error rate."""

    model_config = ConfigDict(extra="forbid")

    ok: int = 0
    """Successes (e.g. TASK_COMPLETED)."""
    failed: int = 0
    """Failures (e.g. TASK_FAILED)."""

    @property
    def total(self) -> int:
        """Outcomes counted."""
        return self.ok + self.failed

    @property
    def rate(self) -> float | None:
        """``failed / (ok + failed)`` as a percentage; None before any outcome."""
        return 100.0 * self.failed / self.total if self.total else None


class Series(BaseModel):
    """Values of one labelled metric."""

    model_config = ConfigDict(extra="forbid")

    labels: tuple[str, ...]
    """Metric name first, then its labels."""
    digest: Digest = Field(default_factory=Digest)
    """Values observed."""


class TallySeries(BaseModel):
    """Outcomes of one labelled error rate."""

    model_config = ConfigDict(extra="forbid")

    labels: tuple[str, ...]
    """What is counted, e.g. ``("tasks",)`` or ``("tasks", "agent_1")``."""
    tally: Tally = Field(default_factory=Tally)
    """The counts."""


class Gauge(BaseModel):
    """A sampled level (e.g. consumer lag): its last and highest reading in the window."""

    model_config = ConfigDict(extra="forbid")

    last: float
    """Latest reading."""
    high: float
    """Highest reading."""
    at: datetime
    """When the latest reading was taken."""


class MetricWindow(BaseModel):
    """What happened in ``[start, end)`` (see the module doc)."""

    model_config = ConfigDict(extra="forbid")

    start: datetime
    """First moment of the window."""
    end: datetime
    """First moment after the window."""
    events: dict[str, int] = Field(default_factory=dict)
    """Events observed per event type."""
    series: dict[str, Series] = Field(default_factory=dict)
    """Value digests, by :func:`labels_key`."""
    tallies: dict[str, TallySeries] = Field(default_factory=dict)
    """Outcome counts, by :func:`labels_key`."""
    gauges: dict[str, Gauge] = Field(default_factory=dict)
    """Levels, by name."""

    @property
    def total(self) -> int:
        """Events observed."""
        return sum(self.events.values())


def labels_key(labels: Sequence[str]) -> str:
    """A dictionary key for ``labels``: joined by ``/``, with ``%`` and ``/`` escaped.

    Escaping keeps the key one-to-one (``("a/b", "c")`` and ``("a", "b/c")`` differ), while
    keys of ordinary names stay readable in the JSON state.
    """
    return "/".join(part.replace("%", "%25").replace("/", "%2F") for part in labels)


def count_event(window: MetricWindow, *, event_type: str) -> MetricWindow:
    """Count one event of ``event_type``."""
    window.events[event_type] = window.events.get(event_type, 0) + 1
    return window


def add_value(
    window: MetricWindow,
    *,
    labels: Sequence[str],
    value: float,
    cap: int = EXACT_CAP,
    key: str | None = None,
) -> MetricWindow:
    """Add ``value`` to the digest of ``labels`` (``key``: their :func:`labels_key`, if known).

    ``cap``: values kept exactly (:mod:`baton_monitor.digest`).
    """
    key = labels_key(labels) if key is None else key
    series = window.series.get(key)
    if series is None:
        series = window.series[key] = Series(labels=tuple(labels))
    digest.add_value(series.digest, value, cap=cap)
    return window


def add_outcome(window: MetricWindow, *, labels: Sequence[str], failed: bool) -> MetricWindow:
    """Count one success or failure under ``labels``."""
    key = labels_key(labels)
    entry = window.tallies.get(key)
    if entry is None:
        entry = window.tallies[key] = TallySeries(labels=tuple(labels))
    if failed:
        entry.tally.failed += 1
    else:
        entry.tally.ok += 1
    return window


def set_gauge(window: MetricWindow, *, name: str, value: float, now: datetime) -> MetricWindow:
    """Record a reading of the level ``name``."""
    gauge = window.gauges.get(name)
    if gauge is None:
        window.gauges[name] = Gauge(last=value, high=value, at=now)
    else:
        gauge.last, gauge.high, gauge.at = value, max(gauge.high, value), now
    return window


def pane_size(*sizes: float) -> float:
    """The pane of windows of these sizes and hops: their greatest common divisor (ms).

    Raises:
        ValueError: a size is below 1 ms.
    """
    return math.gcd(*(_span(size, name="size") for size in sizes)) / 1000


def pane_at(
    panes: dict[int, MetricWindow], *, size: float, keep: float, now: datetime
) -> MetricWindow:
    """The pane of ``size`` seconds holding ``now``, created as needed.

    Panes are keyed by their start in epoch milliseconds. Creating one drops those that
    ended ``keep`` seconds or more before ``now``, which bounds the state whatever the run
    time.
    """
    start = window_start(now, size=size)
    key = to_millis(start)
    pane = panes.get(key)
    if pane is None:
        pane = panes[key] = MetricWindow(start=start, end=start + _span(size, name="size") * _MS)
        horizon = now - timedelta(seconds=keep)
        for old in [k for k, p in panes.items() if p.end <= horizon]:
            del panes[old]
    return pane


def merge_windows(
    windows: Iterable[MetricWindow], *, start: datetime, end: datetime, cap: int = EXACT_CAP
) -> MetricWindow:
    """One window ``[start, end)`` holding everything ``windows`` hold.

    Counts and tallies add up, digests merge (:func:`baton_monitor.digest.merge`, exact
    within ``cap`` values), and a gauge keeps its latest reading and its highest.
    """
    out = MetricWindow(start=start, end=end)
    parts: dict[str, list[Series]] = {}
    for window in windows:
        for name, count in window.events.items():
            out.events[name] = out.events.get(name, 0) + count
        for key, series in window.series.items():
            parts.setdefault(key, []).append(series)
        for key, entry in window.tallies.items():
            mine = out.tallies.get(key)
            if mine is None:
                mine = out.tallies[key] = TallySeries(labels=entry.labels)
            mine.tally.ok += entry.tally.ok
            mine.tally.failed += entry.tally.failed
        for name, gauge in window.gauges.items():
            held = out.gauges.get(name)
            if held is None:
                out.gauges[name] = gauge.model_copy()
                continue
            if gauge.at > held.at:
                held.last, held.at = gauge.last, gauge.at
            held.high = max(held.high, gauge.high)
    for key, series in parts.items():
        out.series[key] = Series(
            labels=series[0].labels, digest=digest.merge((s.digest for s in series), cap=cap)
        )
    return out


def assemble(
    panes: dict[int, MetricWindow], *, spec: WindowSpec, now: datetime, cap: int = EXACT_CAP
) -> list[MetricWindow]:
    """The windows of ``spec`` made of ``panes`` (keyed by start in epoch ms), oldest first.

    A window is listed when a pane holds something in it, and until it has been closed for
    one hop: the open windows and the one that closed last. Every pane must lie within one
    window or another's bounds (panes of :func:`pane_size`).
    """
    hop, size = _span(spec.hop, name="hop"), _span(spec.size, name="size")
    horizon = to_millis(now) - hop
    members: dict[int, list[MetricWindow]] = {}
    for key, pane in panes.items():
        first = key - (key % hop)  # the latest window start at or before the pane
        start = first
        while start > key - size:
            if start + size > horizon:
                members.setdefault(start, []).append(pane)
            start -= hop
    return [
        merge_windows(
            members[start],
            start=_from_millis(start),
            end=_from_millis(start + size),
            cap=cap,
        )
        for start in sorted(members)
    ]

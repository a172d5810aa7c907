"""Tumbling and hopping windows, and what one window accumulates.

Windows are aligned to the Unix epoch, like Kafka Streams' and faust's: a window of ``size``
seconds advancing by ``hop`` seconds starts at every multiple of ``hop`` and covers
``[start, start + size)``. A tumbling window is the case ``hop == size`` (every moment is in
exactly one); a hopping window with ``hop < size`` holds a moment in ``ceil(size / hop)``
windows when ``hop`` divides ``size``. Arithmetic is in whole milliseconds, so boundaries
never drift with floating-point error.

A :class:`MetricWindow` counts events per type (throughput), tallies outcomes (completed or
failed, for error rates), keeps value samples (latency, durations; :mod:`.samples`) and
gauges (last and highest reading), each keyed by a tuple of labels such as
``("task_duration", "bug_fix", "agent_1")``. The functions change a window in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from baton_monitor.samples import SAMPLE_CAP, Samples, add_sample

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
    "count_event",
    "labels_key",
    "set_gauge",
    "to_millis",
    "window_start",
    "window_starts",
    "windows_at",
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
    """Samples of one labelled metric."""

    model_config = ConfigDict(extra="forbid")

    labels: tuple[str, ...]
    """Metric name first, then its labels."""
    samples: Samples = Field(default_factory=Samples)
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
    """Value samples, by :func:`labels_key`."""
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
    cap: int = SAMPLE_CAP,
    key: str | None = None,
) -> MetricWindow:
    """Add ``value`` to the samples of ``labels`` (``key``: their :func:`labels_key`, if known)."""
    key = labels_key(labels) if key is None else key
    series = window.series.get(key)
    if series is None:
        series = window.series[key] = Series(labels=tuple(labels))
    add_sample(series.samples, value, cap=cap)
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


def windows_at(
    windows: dict[int, MetricWindow], *, spec: WindowSpec, now: datetime
) -> list[MetricWindow]:
    """The windows of ``spec`` holding ``now``, oldest first, created as needed.

    Windows are keyed by their start in epoch milliseconds. Creating one drops those that
    ended more than one hop before ``now``: only the open windows and the one that closed
    last are kept, which bounds the state whatever the run time.
    """
    if spec.tumbling:
        starts = [window_start(now, size=spec.size)]
    else:
        starts = window_starts(now, size=spec.size, hop=spec.hop)
    out: list[MetricWindow] = []
    created = False
    length = _span(spec.size, name="size") * _MS
    for start in starts:
        key = to_millis(start)
        window = windows.get(key)
        if window is None:
            window = windows[key] = MetricWindow(start=start, end=start + length)
            created = True
        out.append(window)
    if created:
        horizon = now - timedelta(seconds=spec.hop)
        for key in [k for k, w in windows.items() if w.end <= horizon]:
            del windows[key]
    return out

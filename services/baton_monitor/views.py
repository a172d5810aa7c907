"""JSON views of the metric state, and the flat values thresholds are evaluated on.

Throughput of a window is its events divided by the seconds it has been watched: from its
start (or the monitor's first observation, if later) to its end (or ``now``, while open).

:func:`metric_values` reads the *reference window*: the oldest hopping window holding
``now``. It always covers between ``size - hop`` and ``size`` seconds (4 to 5 minutes by
default) of the latest data, so a threshold sees a recent, yet not jittery, value. Keys are
``<metric>`` or ``<metric>:<subject>``:

- ``throughput`` (events/s), ``latency_p50`` / ``latency_p95`` / ``latency_p99`` (s);
- ``error_rate`` (%), ``agent_error_rate:<agent>`` (%);
- ``task_duration_p<q>:<type>/<agent>``, ``agent_task_duration_p<q>:<agent>``,
  ``phase_duration_p<q>:<type>/<phase>``, ``workflow_duration_p<q>:<type>`` (s; q = 50, 95, 99);
- ``consumer_lag:<group>`` (records) and ``consumer_lag``, the largest; readings older than
  one hopping window are left out (the group is no longer reported).

Windows are assembled from the state's panes (:func:`~baton_monitor.windows.assemble`).

A percentile or a rate needs ``config.min_samples`` observations in the window to appear: a
single failed task is not a 100 % error rate worth an alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from baton_monitor import digest
from baton_monitor.samples import PERCENTILES, summary
from baton_monitor.state import Metrics, WorkflowStats, iso
from baton_monitor.windows import (
    MetricWindow,
    Tally,
    WindowSpec,
    assemble,
    merge_windows,
    to_millis,
    window_starts,
)

__all__ = [
    "SUBJECT_LABELS",
    "Reading",
    "current_readings",
    "latest_lags",
    "metric_values",
    "metrics_report",
    "reference_window",
    "window_report",
    "workflow_report",
]

SUBJECT_LABELS: Final = {
    "task_duration": ("workflow_type", "agent_id"),
    "agent_task_duration": ("agent_id",),
    "phase_duration": ("workflow_type", "phase"),
    "workflow_duration": ("workflow_type",),
}
"""What the parts of each duration metric's subject are (``<workflow_type>/<agent_id>``...)."""


def _tally(tally: Tally) -> dict[str, Any]:
    rate = tally.rate
    return {
        "completed": tally.ok,
        "failed": tally.failed,
        "rate": None if rate is None else round(rate, 4),
    }


def _watched(window: MetricWindow, *, now: datetime, since: datetime | None) -> float:
    begin = max(window.start, since) if since is not None else window.start
    return max(0.0, (min(now, window.end) - begin).total_seconds())


def window_report(
    window: MetricWindow, *, now: datetime, since: datetime | None = None
) -> dict[str, Any]:
    """One window as JSON: throughput, latency, durations, error rates, consumer lag."""
    watched = _watched(window, now=now, since=since)
    out: dict[str, Any] = {
        "start": iso(window.start),
        "end": iso(window.end),
        "closed": window.end <= now,
        "throughput": {
            "total": window.total,
            "per_second": round(window.total / watched, 6) if watched > 0 else None,
            "by_type": dict(sorted(window.events.items())),
        },
        "latency": None,
        **{f"{name}s": [] for name in SUBJECT_LABELS},
        "error_rate": {"overall": _tally(Tally()), "agents": {}},
        "consumer_lag": {},
    }
    for _, series in sorted(window.series.items()):
        name, *rest = series.labels
        if name == "latency":
            out["latency"] = digest.summary(series.digest)
        elif name in SUBJECT_LABELS and len(rest) == len(SUBJECT_LABELS[name]):
            out[f"{name}s"].append(
                {
                    **dict(zip(SUBJECT_LABELS[name], rest, strict=True)),
                    **digest.summary(series.digest),
                }
            )
    for _, entry in sorted(window.tallies.items()):
        if entry.labels == ("tasks",):
            out["error_rate"]["overall"] = _tally(entry.tally)
        elif len(entry.labels) == 2:
            out["error_rate"]["agents"][entry.labels[1]] = _tally(entry.tally)
    for name, gauge in sorted(window.gauges.items()):
        metric, _, group = name.partition(":")
        if metric != "consumer_lag":
            continue
        out["consumer_lag"][group] = {"last": gauge.last, "high": gauge.high, "at": iso(gauge.at)}
    return out


def workflow_report(workflow_id: str, stats: WorkflowStats, *, now: datetime) -> dict[str, Any]:
    """One workflow's whole-life metrics as JSON."""
    return {
        "workflow_id": workflow_id,
        "workflow_type": stats.workflow_type,
        "status": stats.status,
        "generated_at": iso(now),
        "first_seen": iso(stats.first_seen),
        "last_seen": iso(stats.last_seen),
        "events": dict(sorted(stats.events.items())),
        "latency": summary(stats.latency),
        "task_durations": {a: summary(s) for a, s in sorted(stats.task_durations.items())},
        "phase_durations": {p: summary(s) for p, s in sorted(stats.phase_durations.items())},
        "error_rate": {
            "overall": _tally(stats.tasks),
            "agents": {a: _tally(t) for a, t in sorted(stats.agents.items())},
        },
        "open_tasks": sorted(stats.open_tasks),
        "open_phases": sorted(stats.open_phases),
    }


def reference_window(metrics: Metrics, *, now: datetime) -> MetricWindow | None:
    """The oldest hopping window holding ``now`` that holds something (module doc), if any."""
    config = metrics.config
    size = timedelta(seconds=config.hopping_size)
    for start in window_starts(now, size=config.hopping_size, hop=config.hopping_hop):
        begin, end = to_millis(start), to_millis(start + size)
        panes = [p for key, p in metrics.panes.items() if begin <= key < end]
        if panes:
            return merge_windows(panes, start=start, end=start + size, cap=config.exact_cap)
    return None


def latest_lags(
    metrics: Metrics, *, since: datetime | None = None
) -> dict[str, tuple[float, datetime]]:
    """Each consumer group's latest lag reading and its time (those at or after ``since``)."""
    out: dict[str, tuple[float, datetime]] = {}
    for pane in metrics.panes.values():
        for name, gauge in pane.gauges.items():
            metric, _, group = name.partition(":")
            if metric != "consumer_lag" or (since is not None and gauge.at < since):
                continue
            held = out.get(group)
            if held is None or gauge.at > held[1]:
                out[group] = (gauge.last, gauge.at)
    return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class Reading:
    """One current value: its metric, subject (labels, e.g. workflow type and agent) and
    percentile (for the percentile metrics)."""

    metric: str
    value: float
    subject: tuple[str, ...] = ()
    percentile: float | None = None

    @property
    def key(self) -> str:
        """The flat key thresholds watch: ``<metric>[_p<q>][:<subject>]`` (module doc)."""
        name = self.metric if self.percentile is None else f"{self.metric}_p{self.percentile:g}"
        return f"{name}:{'/'.join(self.subject)}" if self.subject else name


def current_readings(metrics: Metrics, *, now: datetime) -> list[Reading]:
    """Current value of every metric, read from the reference window (module doc)."""
    out: list[Reading] = []
    least = metrics.config.min_samples
    window = reference_window(metrics, now=now)
    if window is not None:
        watched = _watched(window, now=now, since=metrics.since)
        if watched > 0:
            out.append(Reading("throughput", window.total / watched))
        for series in window.series.values():
            if series.digest.count < least:
                continue
            name, *rest = series.labels
            for q in PERCENTILES:
                found = digest.quantile(series.digest, q)
                if found is not None:
                    out.append(Reading(name, found, subject=tuple(rest), percentile=q))
        for entry in window.tallies.values():
            rate = entry.tally.rate
            if rate is None or entry.tally.total < least:
                continue
            if entry.labels == ("tasks",):
                out.append(Reading("error_rate", rate))
            elif len(entry.labels) == 2:
                out.append(Reading("agent_error_rate", rate, subject=(entry.labels[1],)))
    fresh = now - timedelta(seconds=metrics.config.hopping_size)
    lags = {g: lag for g, (lag, _) in latest_lags(metrics, since=fresh).items()}
    out.extend(Reading("consumer_lag", lag, subject=(group,)) for group, lag in lags.items())
    if lags:
        out.append(Reading("consumer_lag", max(lags.values())))
    return out


def metric_values(metrics: Metrics, *, now: datetime) -> dict[str, float]:
    """Current value of every metric, keyed ``<metric>[:<subject>]`` (module doc)."""
    return {reading.key: reading.value for reading in current_readings(metrics, now=now)}


def metrics_report(
    metrics: Metrics, *, now: datetime, workflow_id: str | None = None
) -> dict[str, Any]:
    """Every retained window, consumer lag and current values, as JSON.

    With ``workflow_id``, that workflow's whole-life metrics instead.

    Raises:
        KeyError: ``workflow_id`` was never seen (or has been forgotten).
    """
    if workflow_id is not None:
        return workflow_report(workflow_id, metrics.workflows[workflow_id], now=now)
    config = metrics.config

    def windows(spec: WindowSpec) -> list[dict[str, Any]]:
        made = assemble(metrics.panes, spec=spec, now=now, cap=config.exact_cap)
        return [window_report(w, now=now, since=metrics.since) for w in made]

    return {
        "generated_at": iso(now),
        "since": iso(metrics.since) if metrics.since else None,
        "observed": metrics.observed,
        "tumbling": {"size": config.tumbling, "windows": windows(config.tumbling_spec)},
        "hopping": {
            "size": config.hopping_size,
            "hop": config.hopping_hop,
            "windows": windows(config.hopping_spec),
        },
        "consumer_lag": {
            group: {"lag": lag, "at": iso(at)} for group, (lag, at) in latest_lags(metrics).items()
        },
        "current": metric_values(metrics, now=now),
    }

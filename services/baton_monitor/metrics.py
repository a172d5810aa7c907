"""Metrics derived from events: throughput, latency, durations, error rates, consumer lag.

:func:`observe` feeds one event into the pane holding ``now`` — the tumbling (default 60 s)
and hopping (default 5 min advancing by 1 min) windows are made of panes
(:func:`~baton_monitor.windows.assemble`) — and into its workflow's whole-life
:class:`~baton_monitor.state.WorkflowStats`. Windows are chosen by *processing* time
(``now``): a window describes what the monitor processed during it. A *replayed* event —
its record was in the topic before the monitor started (:mod:`baton_monitor.catchup`) — is
counted in the windows of now, but its age is not latency: it says how long the monitor was
away, not how late the system is, and alarming on it would hold back work for minutes.

Per event:

- throughput: one more event of its type;
- latency: ``now - event.timestamp`` in seconds, clamped at 0 (a publisher whose clock runs
  ahead cannot have delivered before it published), for events that are not replayed;
- ``TASK_COMPLETED``: its duration, under ``("task_duration", workflow_type, agent_id)`` and
  ``("agent_task_duration", agent_id)``: the event's ``duration`` (``"1s46ms"`` or seconds),
  else the time since the task's ``TASK_STARTED`` / ``TASK_ASSIGNED`` (event times);
- ``PHASE_COMPLETED``: ``("phase_duration", workflow_type, phase)`` from ``actual_duration``
  (or the protocol's ``duration``), else the time since ``PHASE_STARTED``;
- ``WORKFLOW_COMPLETED``: ``("workflow_duration", workflow_type)`` since ``WORKFLOW_CREATED``;
- error rate: ``TASK_FAILED / (TASK_COMPLETED + TASK_FAILED)`` in %, overall (``("tasks",)``)
  and per agent (``("tasks", agent_id)``).

The workflow type comes from ``WORKFLOW_CREATED``'s ``workflow_definition.workflow_type``;
for a workflow first seen later it is the hub's default, the id without its trailing number
(``bug_fix_002`` → ``bug_fix``). The functions change :class:`Metrics` in place and return it.

A record delivered again is not counted twice: :func:`observe` takes its position in the
events topic and skips one at or before the latest counted from that partition
(``Metrics.applied``, saved with the partition's panes), or, for a workflow's figures, in
them (``WorkflowStats.applied``). An event sent twice — an outbox sends a row again when its
sender died before noting it sent — is two records with one event id: a copy of one of
its workflow's latest events is not counted again (``WorkflowStats.recent_ids``).

:func:`combine` sums the state of several partitions: what a report and thresholds read.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from baton.protocol.event import Event
from baton.protocol.fields import seconds as as_seconds
from baton.protocol.fields import text, workflow_type_of
from baton_monitor.samples import Samples, add_sample
from baton_monitor.state import (
    RECENT_IDS,
    UNKNOWN,
    Metrics,
    MetricsConfig,
    OpenTask,
    Position,
    WorkflowStats,
)
from baton_monitor.views import metric_values, metrics_report
from baton_monitor.windows import (
    MetricWindow,
    Tally,
    add_outcome,
    add_value,
    count_event,
    labels_key,
    merge_windows,
    pane_at,
    set_gauge,
)

__all__ = [
    "GLOBAL",
    "Metrics",
    "adopt",
    "combine",
    "observe",
    "record_lag",
    "report",
    "values",
]

GLOBAL: Final = "global"
"""Workflow id of system-wide events (heartbeats...): they have no workflow figures."""
_LATENCY: Final = ("latency",)
_ENDED: Final[dict[str, Literal["completed", "failed", "cancelled"]]] = {
    "WORKFLOW_COMPLETED": "completed",
    "WORKFLOW_FAILED": "failed",
    "WORKFLOW_CANCELLED": "cancelled",
}


@dataclass(slots=True, frozen=True)
class _Ctx:
    metrics: Metrics
    event: Event
    stats: WorkflowStats | None
    windows: list[MetricWindow]

    @property
    def workflow_type(self) -> str:
        if self.stats is not None:
            return self.stats.workflow_type
        return workflow_type_of(self.event.workflow_id)

    def value(self, *labels: str, seconds: float) -> None:
        cap, key = self.metrics.config.exact_cap, labels_key(labels)
        for window in self.windows:
            add_value(window, labels=labels, value=seconds, cap=cap, key=key)

    def keep(self, table: dict[str, Samples], key: str, *, seconds: float) -> None:
        add_sample(table.setdefault(key, Samples()), seconds, cap=self.metrics.config.sample_cap)

    def outcome(self, agent: str, *, failed: bool) -> None:
        for window in self.windows:
            add_outcome(window, labels=("tasks",), failed=failed)
            add_outcome(window, labels=("tasks", agent), failed=failed)
        if self.stats is not None:
            _tally(self.stats.tasks, failed=failed)
            _tally(self.stats.agents.setdefault(agent, Tally()), failed=failed)


def _tally(tally: Tally, *, failed: bool) -> None:
    if failed:
        tally.failed += 1
    else:
        tally.ok += 1


def _elapsed(since: datetime | None, until: datetime) -> float | None:
    return None if since is None else max(0.0, (until - since).total_seconds())


def _on_created(ctx: _Ctx) -> None:
    if ctx.stats is None:
        return
    definition = ctx.event.data.get("workflow_definition")
    named = text(definition.get("workflow_type")) if isinstance(definition, dict) else None
    ctx.stats.workflow_type = (
        named or text(ctx.event.data.get("workflow_type")) or (ctx.stats.workflow_type)
    )
    ctx.stats.created_at = ctx.event.timestamp


def _on_task_begun(ctx: _Ctx) -> None:
    task_id = text(ctx.event.data.get("task_id"))
    if ctx.stats is None or task_id is None:
        return
    data = ctx.event.data
    agent = text(data.get("agent_id")) or text(data.get("new_agent"))
    held = ctx.stats.open_tasks.pop(task_id, None)
    if agent is None and held is not None:
        agent = held.agent_id
    ctx.stats.open_tasks[task_id] = OpenTask(since=ctx.event.timestamp, agent_id=agent)
    if len(ctx.stats.open_tasks) > ctx.metrics.config.open_limit:
        del ctx.stats.open_tasks[next(iter(ctx.stats.open_tasks))]


def _on_task_ended(ctx: _Ctx) -> None:
    data = ctx.event.data
    task_id = text(data.get("task_id"))
    held = None
    if ctx.stats is not None and task_id is not None:
        held = ctx.stats.open_tasks.pop(task_id, None)
    agent = text(data.get("agent_id")) or (held.agent_id if held else None) or UNKNOWN
    failed = ctx.event.event_type == "TASK_FAILED"
    ctx.outcome(agent, failed=failed)
    if failed:
        return
    seconds = as_seconds(data.get("duration"))
    if seconds is None:
        seconds = _elapsed(held.since if held else None, ctx.event.timestamp)
    if seconds is None:
        return
    ctx.value("task_duration", ctx.workflow_type, agent, seconds=seconds)
    ctx.value("agent_task_duration", agent, seconds=seconds)
    if ctx.stats is not None:
        ctx.keep(ctx.stats.task_durations, agent, seconds=seconds)


def _phase(ctx: _Ctx) -> str:
    return text(ctx.event.data.get("phase_id")) or ctx.event.phase


def _on_phase_started(ctx: _Ctx) -> None:
    if ctx.stats is None:
        return
    ctx.stats.open_phases[_phase(ctx)] = ctx.event.timestamp
    if len(ctx.stats.open_phases) > ctx.metrics.config.open_limit:
        del ctx.stats.open_phases[next(iter(ctx.stats.open_phases))]


def _on_phase_completed(ctx: _Ctx) -> None:
    phase, data = _phase(ctx), ctx.event.data
    began = ctx.stats.open_phases.pop(phase, None) if ctx.stats is not None else None
    seconds = as_seconds(data.get("actual_duration"))
    if seconds is None:
        seconds = as_seconds(data.get("duration"))
    if seconds is None:
        seconds = _elapsed(began, ctx.event.timestamp)
    if seconds is None:
        return
    ctx.value("phase_duration", ctx.workflow_type, phase, seconds=seconds)
    if ctx.stats is not None:
        ctx.keep(ctx.stats.phase_durations, phase, seconds=seconds)


def _on_workflow_ended(ctx: _Ctx) -> None:
    if ctx.stats is None:
        return
    stats = ctx.stats
    stats.status = _ENDED[ctx.event.event_type]
    stats.open_tasks.clear()
    stats.open_phases.clear()
    if ctx.event.event_type == "WORKFLOW_COMPLETED":
        seconds = _elapsed(stats.created_at, ctx.event.timestamp)
        if seconds is not None:
            ctx.value("workflow_duration", stats.workflow_type, seconds=seconds)


_HANDLERS: Final[dict[str, Callable[[_Ctx], None]]] = {
    "WORKFLOW_CREATED": _on_created,
    "TASK_ASSIGNED": _on_task_begun,
    "TASK_STARTED": _on_task_begun,
    "TASK_REASSIGNED": _on_task_begun,
    "TASK_COMPLETED": _on_task_ended,
    "TASK_FAILED": _on_task_ended,
    "PHASE_STARTED": _on_phase_started,
    "PHASE_COMPLETED": _on_phase_completed,
    **{name: _on_workflow_ended for name in _ENDED},
}


def _counted(done: Position | None, position: Position) -> bool:
    """Whether the record at ``position`` is at or before ``done``, in the same partition."""
    if done is None or done.partition != position.partition:
        return False
    return position.offset <= done.offset


def _make_room(metrics: Metrics) -> None:
    workflows = metrics.workflows
    if len(workflows) >= metrics.config.workflow_limit:
        # Finished workflows go first: an active one still has durations to report.
        victim = next((k for k, s in workflows.items() if s.status != "active"), None)
        del workflows[victim if victim is not None else next(iter(workflows))]


def _workflow(
    metrics: Metrics, event: Event, now: datetime, position: Position | None
) -> WorkflowStats | None:
    """The event's workflow figures to count it in; None for ``global`` events and for an
    event these figures counted already (see the module doc)."""
    if event.workflow_id == GLOBAL:
        return None
    stats = metrics.workflows.get(event.workflow_id)
    if stats is None:
        _make_room(metrics)
        stats = WorkflowStats(
            workflow_type=workflow_type_of(event.workflow_id), first_seen=now, last_seen=now
        )
        metrics.workflows[event.workflow_id] = stats
    if position is not None:
        if _counted(stats.applied, position):
            return None
        stats.applied = position
    stats.last_seen = now
    stats.recent_ids.append(event.event_id)
    del stats.recent_ids[:-RECENT_IDS]
    return stats


def _is_copy(metrics: Metrics, event: Event) -> bool:
    """Whether ``event`` is a copy of one of its workflow's latest events (same id), counted
    already (:func:`_workflow` remembers the ids)."""
    stats = metrics.workflows.get(event.workflow_id)
    return stats is not None and event.event_id in stats.recent_ids


def adopt(metrics: Metrics, *, workflow_id: str, stats: WorkflowStats) -> Metrics:
    """Take in the figures of ``workflow_id`` saved by an earlier process, unless it is known
    here already (the figures here are then the newer)."""
    if workflow_id not in metrics.workflows:
        _make_room(metrics)
        metrics.workflows[workflow_id] = stats
    return metrics


@functools.lru_cache(maxsize=16)
def _shape(config: MetricsConfig) -> tuple[float, float]:
    # Once per configuration, not once per event.
    return config.pane, config.keep


def _open_windows(metrics: Metrics, now: datetime) -> list[MetricWindow]:
    """The pane holding ``now``: every window holding ``now`` is made of it."""
    size, keep = _shape(metrics.config)
    return [pane_at(metrics.panes, size=size, keep=keep, now=now)]


def observe(
    metrics: Metrics,
    event: Event,
    *,
    now: datetime,
    position: Position | None = None,
    replayed: bool = False,
) -> Metrics:
    """Account for ``event``, processed at ``now`` (see the module doc).

    Args:
        position: Where its record sits in the events topic; None for a record from
            elsewhere (a retry topic), which is never taken for one counted already.
        replayed: Its record was in the topic before the monitor started: it is counted,
            but its age is not latency.
    """
    if position is not None:
        done = metrics.applied.get(position.partition)
        if done is not None and position.offset <= done:
            return metrics
        metrics.applied[position.partition] = position.offset
    if _is_copy(metrics, event):
        return metrics
    config = metrics.config
    if metrics.since is None:
        metrics.since = now
    metrics.observed += 1
    windows = _open_windows(metrics, now)
    latency = None if replayed else max(0.0, (now - event.timestamp).total_seconds())
    for window in windows:
        count_event(window, event_type=event.event_type)
        if latency is not None:
            add_value(window, labels=_LATENCY, value=latency, cap=config.exact_cap, key="latency")
    stats = _workflow(metrics, event, now, position)
    if stats is not None:
        stats.events[event.event_type] = stats.events.get(event.event_type, 0) + 1
        if latency is not None:
            add_sample(stats.latency, latency, cap=config.sample_cap)
    handler = _HANDLERS.get(event.event_type)
    if handler is not None:
        handler(_Ctx(metrics=metrics, event=event, stats=stats, windows=windows))
    return metrics


def record_lag(metrics: Metrics, *, group: str, lag: float, now: datetime) -> Metrics:
    """Record consumer ``group``'s lag (records behind, summed over partitions) read at ``now``.

    Raises:
        ValueError: ``lag`` is negative or not finite.
    """
    if not 0 <= lag < math.inf:
        raise ValueError(f"consumer lag must be a finite non-negative number, got {lag!r}")
    name = f"consumer_lag:{group}"
    for window in _open_windows(metrics, now):
        set_gauge(window, name=name, value=float(lag), now=now)
    return metrics


def combine(parts: Iterable[Metrics], *, config: MetricsConfig) -> Metrics:
    """The state of several partitions as one: panes of the same start merged
    (:func:`~baton_monitor.windows.merge_windows`), the earliest ``since``, events summed,
    the latest position per partition. Workflow figures are left out (each partition has
    its own workflows, read one at a time)."""
    out = Metrics(config=config)
    panes: dict[int, list[MetricWindow]] = {}
    for part in parts:
        if part.since is not None and (out.since is None or part.since < out.since):
            out.since = part.since
        out.observed += part.observed
        for start, pane in part.panes.items():
            panes.setdefault(start, []).append(pane)
        for partition, offset in part.applied.items():
            out.applied[partition] = max(offset, out.applied.get(partition, offset))
    for start, group in sorted(panes.items()):
        first = group[0]
        out.panes[start] = (
            first
            if len(group) == 1
            else merge_windows(group, start=first.start, end=first.end, cap=config.exact_cap)
        )
    return out


def values(metrics: Metrics, *, now: datetime) -> dict[str, float]:
    """The current value of every metric thresholds can watch (see :func:`views.metric_values`)."""
    return metric_values(metrics, now=now)


def report(metrics: Metrics, *, now: datetime, workflow_id: str | None = None) -> dict[str, Any]:
    """A JSON-ready report: every retained window, consumer lag and current values.

    With ``workflow_id``, that workflow's whole-life metrics instead
    (:func:`~baton_monitor.views.metrics_report`).

    Raises:
        KeyError: ``workflow_id`` was never seen (or has been forgotten).
    """
    return metrics_report(metrics, now=now, workflow_id=workflow_id)

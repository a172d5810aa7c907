"""Past durations, learned from completed work, for completion estimates.

:class:`History` keeps, per workflow type, the durations of completed phases (per phase
name) and of whole completed workflows: the newest :data:`SAMPLE_LIMIT` per key (and the
newest :data:`PHASE_LIMIT` phase names per type), so it follows a type whose durations
drift and stays bounded. Each sample names the workflow it came from, and
recording the same workflow's phase again replaces its sample: learning is idempotent, so a
replayed event does not count twice. Failed and cancelled runs are not learned (their phases
that did complete are). Like the projection, the functions change the history in place and
return it; it round-trips through JSON.

Statistics are robust to the odd outlier run: the centre is the median, the spread the
scaled median absolute deviation (:func:`relative_spread`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from baton.protocol.event import Event
from baton_status.views import WorkflowView

__all__ = [
    "MAD_TO_SD",
    "PHASE_LIMIT",
    "SAMPLE_LIMIT",
    "History",
    "Lesson",
    "Sample",
    "learn",
    "lesson",
    "median",
    "merge",
    "observe",
    "phase_durations",
    "record_phase",
    "record_workflow",
    "relative_spread",
    "workflow_durations",
]

SAMPLE_LIMIT: Final = 50
"""Samples kept per (type, phase) and per type."""
PHASE_LIMIT: Final = 100
"""Phase names kept per type (those that learned last)."""
MAD_TO_SD: Final = 1.4826
"""Scale of the median absolute deviation that estimates a standard deviation (normal data)."""


class Sample(BaseModel):
    """One past duration."""

    model_config = ConfigDict(extra="forbid")

    workflow_id: str | None = None
    seconds: float


class History(BaseModel):
    """Past durations per workflow type (see the module doc)."""

    model_config = ConfigDict(extra="forbid")

    phases: dict[str, dict[str, list[Sample]]] = Field(default_factory=dict)
    """Workflow type → phase name → samples, oldest first."""
    workflows: dict[str, list[Sample]] = Field(default_factory=dict)
    """Workflow type → whole-workflow samples, oldest first."""


def _add(samples: list[Sample], *, workflow_id: str | None, seconds: float) -> None:
    value = max(0.0, float(seconds))
    if workflow_id is not None:
        for sample in samples:
            if sample.workflow_id == workflow_id:
                sample.seconds = value
                return
    samples.append(Sample(workflow_id=workflow_id, seconds=value))
    if len(samples) > SAMPLE_LIMIT:
        del samples[: len(samples) - SAMPLE_LIMIT]


def record_phase(
    history: History,
    *,
    workflow_type: str,
    phase: str,
    seconds: float,
    workflow_id: str | None = None,
) -> History:
    """Learn that ``phase`` of a ``workflow_type`` run took ``seconds``; returns ``history``.

    A second sample from the same ``workflow_id`` replaces the first.
    """
    by_phase = history.phases.setdefault(workflow_type, {})
    samples = by_phase.pop(phase, [])
    by_phase[phase] = samples  # now the newest name: the oldest names go past the limit
    _add(samples, workflow_id=workflow_id, seconds=seconds)
    while len(by_phase) > PHASE_LIMIT:
        del by_phase[next(iter(by_phase))]
    return history


def record_workflow(
    history: History, *, workflow_type: str, seconds: float, workflow_id: str | None = None
) -> History:
    """Learn that a whole ``workflow_type`` run took ``seconds``; returns ``history``."""
    _add(history.workflows.setdefault(workflow_type, []), workflow_id=workflow_id, seconds=seconds)
    return history


class Lesson(NamedTuple):
    """One duration a workflow's event taught: a phase's (``phase`` set) or a whole run's."""

    workflow_type: str
    phase: str | None
    seconds: float
    workflow_id: str


def lesson(*, view: WorkflowView, event: Event) -> Lesson | None:
    """What ``event``, once applied to ``view``, teaches (None: nothing).

    ``PHASE_COMPLETED`` gives that phase's actual duration, ``WORKFLOW_COMPLETED`` the whole
    run (from start, else creation, to the end); other events nothing.
    """
    if event.event_type == "PHASE_COMPLETED":
        name = event.data.get("phase_id")
        index = view.phase_index(name if isinstance(name, str) else event.phase)
        phase = view.phases[index] if index is not None else None
        if phase is not None and phase.status == "completed" and phase.duration_s is not None:
            return Lesson(view.workflow_type, phase.name, phase.duration_s, view.workflow_id)
    elif event.event_type == "WORKFLOW_COMPLETED" and view.status == "COMPLETED":
        began = view.started_at or view.created_at
        if began is not None and view.finished_at is not None:
            seconds = (view.finished_at - began).total_seconds()
            return Lesson(view.workflow_type, None, seconds, view.workflow_id)
    return None


def learn(history: History, taught: Lesson) -> History:
    """Record ``taught`` in ``history`` (its workflow type's); returns ``history``."""
    if taught.phase is None:
        return record_workflow(
            history,
            workflow_type=taught.workflow_type,
            seconds=taught.seconds,
            workflow_id=taught.workflow_id,
        )
    return record_phase(
        history,
        workflow_type=taught.workflow_type,
        phase=taught.phase,
        seconds=taught.seconds,
        workflow_id=taught.workflow_id,
    )


def observe(history: History, *, view: WorkflowView, event: Event) -> History:
    """Learn from ``event`` once it is applied to ``view``; returns ``history``."""
    taught = lesson(view=view, event=event)
    return history if taught is None else learn(history, taught)


def merge(histories: Iterable[History]) -> History:
    """One history of the types of ``histories`` (each holds its own types' samples)."""
    out = History()
    for history in histories:
        out.phases.update(history.phases)
        out.workflows.update(history.workflows)
    return out


def phase_durations(history: History, *, workflow_type: str, phase: str) -> list[float]:
    """Past durations of ``phase`` of ``workflow_type``, oldest first."""
    samples = history.phases.get(workflow_type, {}).get(phase, [])
    return [s.seconds for s in samples]


def workflow_durations(history: History, *, workflow_type: str) -> list[float]:
    """Past durations of whole ``workflow_type`` runs, oldest first."""
    return [s.seconds for s in history.workflows.get(workflow_type, [])]


def median(values: Sequence[float]) -> float:
    """The median (0 for no values)."""
    return float(statistics.median(values)) if values else 0.0


def relative_spread(values: Sequence[float]) -> float | None:
    """Robust coefficient of variation: ``1.4826 * MAD / median``; None below 2 values.

    For normally distributed durations this estimates standard deviation / mean, but one
    wild run moves it little, where it would inflate a standard deviation.
    """
    if len(values) < 2:
        return None
    centre = median(values)
    if centre <= 0:
        return None
    mad = median([abs(v - centre) for v in values])
    return MAD_TO_SD * mad / centre

"""When will a workflow finish? A completion estimate learned from past durations.

**Remaining time.** For each phase not done yet, its expected duration ``E``
(:mod:`baton_status.expectation`: the median of past durations of that phase for the
workflow's type, else the type's median whole run split by planned phase shares, else the
definition's planned duration). The current phase counts what it has left,
``max(E - elapsed, FLOOR * E)``: a phase running past its median is still expected to need
a little more, not nothing (but nothing once all its tasks are done, its end only announced
next). Remaining = the sum, plus the wait until the estimated start of a
workflow not started yet; ``completion_at`` = now + remaining. A paused workflow is estimated
as if it went on now (the pause's length is unknown).

**Error bound** (``error_bound``: the expected relative error of ``remaining_s``, about a 90 %
two-sided bound). Phase durations are taken as independent, each with standard deviation
``r * E``, where ``r`` is the robust coefficient of variation of its past durations
(``1.4826 * MAD / median``, :func:`~baton_status.history.relative_spread`), inflated by
``1 + π / (2n)`` in variance for the uncertainty of a median of ``n`` samples. With one sample
``r`` = :data:`SINGLE_SPREAD`; for a planned duration ``r`` = :data:`PLAN_SPREAD`; the wait
for the start also counts with :data:`PLAN_SPREAD`. Then::

    error_bound = Z * sqrt(Σ (r_i * E_i)² * (1 + π / (2 n_i))) / remaining,  Z = 1.645

**Confidence** (0-1): each remaining phase is worth ``s = n / (n + K)`` (``K`` =
:data:`SAMPLE_HALF`; ``n`` past runs), half that when it comes from whole runs of the type,
and :data:`PLAN_WEIGHT` when it comes from the plan; ``S`` is their mean weighted by the
time each has left. With progress ``p`` (0-1)::

    confidence = S * (0.5 + 0.5 * p) / (1 + error_bound)

so it grows with the number of past runs and with progress, and falls as past runs disagree.
``samples`` is the fewest past runs behind any remaining phase (0 when one has none).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Final

from baton.protocol.duration import format_duration
from baton_status.api_models import Estimate
from baton_status.expectation import (
    DONE_PHASE,
    PhaseExpectation,
    expect_phases,
    progress_fraction,
)
from baton_status.history import History
from baton_status.views import DONE_TASK, TERMINAL, WorkflowView, iso, utc

__all__ = [
    "FLOOR",
    "PLAN_SPREAD",
    "PLAN_WEIGHT",
    "SAMPLE_HALF",
    "SINGLE_SPREAD",
    "Z",
    "estimate",
]

FLOOR: Final = 0.1
"""Least share of its expected duration a phase (or task) in progress still has left."""
SAMPLE_HALF: Final = 5
"""Past runs at which a phase's sample weight reaches one half."""
PLAN_WEIGHT: Final = 0.1
"""Sample weight of a planned duration (worth less than one past run)."""
PLAN_SPREAD: Final = 0.5
"""Relative spread assumed for a planned duration or a queue wait."""
SINGLE_SPREAD: Final = 0.3
"""Relative spread assumed when a single past run is known."""
Z: Final = 1.645
"""Normal quantile of a 90 % two-sided bound."""


def _not_started_wait(view: WorkflowView, now: datetime) -> float:
    if view.status not in {"CREATED", "QUEUED", "SCHEDULED"} or not view.estimated_start:
        return 0.0
    try:
        start = datetime.fromisoformat(view.estimated_start.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (utc(start) - now).total_seconds())


def _finishing(view: WorkflowView, index: int) -> bool:
    """True when phase ``index`` runs but its tasks are all done, no gate holding it back.

    The hub completes such a phase at once; only its ``PHASE_COMPLETED`` is still to come.
    """
    tasks = view.phase_tasks(index)
    return (
        view.phases[index].status == "running"
        and bool(tasks)
        and all(t.status in DONE_TASK and not t.gate_blocked for t in tasks)
    )


def _left(
    view: WorkflowView, phases: list[PhaseExpectation], now: datetime
) -> list[tuple[PhaseExpectation, float]]:
    """Each phase not done with its expectation and the seconds it has left."""
    out: list[tuple[PhaseExpectation, float]] = []
    for index, (phase, expected) in enumerate(zip(view.phases, phases, strict=True)):
        if phase.status in DONE_PHASE or _finishing(view, index):
            continue
        left = expected.seconds
        if phase.status != "pending" and phase.started_at is not None:
            elapsed = max(0.0, (now - phase.started_at).total_seconds())
            left = max(expected.seconds - elapsed, FLOOR * expected.seconds)
        out.append((expected, left))
    return out


def _variance(expected: PhaseExpectation) -> float:
    if expected.source == "plan":
        return (PLAN_SPREAD * expected.seconds) ** 2
    n = max(1, expected.samples)
    spread = expected.spread if expected.spread is not None else SINGLE_SPREAD
    return (spread * expected.seconds) ** 2 * (1 + math.pi / (2 * n))


def _weight(expected: PhaseExpectation) -> float:
    if expected.source == "plan":
        return PLAN_WEIGHT
    share = expected.samples / (expected.samples + SAMPLE_HALF)
    return share if expected.source == "history" else 0.5 * share


def _names(parts: list[PhaseExpectation]) -> str:
    return ", ".join(p.name for p in parts)


def _runs(parts: list[PhaseExpectation]) -> str:
    low, high = min(p.samples for p in parts), max(p.samples for p in parts)
    return str(low) if low == high else f"{low}-{high}"


def _method(view: WorkflowView, parts: list[PhaseExpectation], *, wait: float) -> str:
    kind = view.workflow_type or "this type"
    by: dict[str, list[PhaseExpectation]] = {"history": [], "type_total": [], "plan": []}
    for part in parts:
        by[part.source].append(part)
    pieces: list[str] = []
    if by["history"]:
        h = by["history"]
        pieces.append(f"median of {_runs(h)} past runs of {kind} per phase ({_names(h)})")
    if by["type_total"]:
        t = by["type_total"]
        pieces.append(
            f"median of {_runs(t)} whole runs of {kind} split by planned phase share ({_names(t)})"
        )
    if by["plan"]:
        pieces.append(
            f"planned duration from the definition ({format_duration(view.planned_s)} for the "
            f"workflow), no past runs of {kind} ({_names(by['plan'])})"
        )
    text = "sum over the remaining phases of: " + "; ".join(pieces)
    if any(p.status == "running" for p in view.phases):
        text += f"; the current phase: that minus time spent, at least {FLOOR:.0%} of it"
    if wait > 0:
        text += f"; plus {format_duration(round(wait))} until the estimated start"
    return text


def estimate(view: WorkflowView, *, history: History, now: datetime) -> Estimate:
    """When ``view`` will probably complete, and how sure that is (see the module doc)."""
    now = utc(now)
    if view.status == "COMPLETED":
        return Estimate(
            remaining_s=0.0,
            completion_at=iso(view.finished_at),
            method="completed",
            confidence=1.0,
            error_bound=0.0,
        )
    if view.status in TERMINAL:
        return Estimate(method=f"{view.status.lower()}: the workflow will not complete")
    if not view.phases:
        began = view.started_at or now
        spent = max(0.0, (now - began).total_seconds())
        remaining = max(view.planned_s - spent, FLOOR * view.planned_s)
        return Estimate(
            remaining_s=round(remaining, 3),
            completion_at=iso(now + timedelta(seconds=remaining)),
            method="planned duration from the definition minus time spent (no phases known)",
            confidence=round(PLAN_WEIGHT * 0.5 / (1 + Z * PLAN_SPREAD), 3),
            error_bound=Z * PLAN_SPREAD,
        )
    phases = expect_phases(view, history=history)
    left = _left(view, phases, now)
    wait = _not_started_wait(view, now)
    work = sum(seconds for _, seconds in left)
    remaining = wait + work
    variance = sum(_variance(e) for e, _ in left) + (PLAN_SPREAD * wait) ** 2
    bound = Z * math.sqrt(variance) / remaining if remaining > 0 else 0.0
    weights = [(_weight(e), seconds) for e, seconds in left]
    span = sum(seconds for _, seconds in weights)
    sample_weight = (
        sum(w * seconds for w, seconds in weights) / span
        if span > 0
        else (sum(w for w, _ in weights) / len(weights) if weights else 1.0)
    )
    done = progress_fraction(view, phases=phases)
    confidence = sample_weight * (0.5 + 0.5 * done) / (1 + bound)
    parts = [e for e, _ in left]
    return Estimate(
        remaining_s=round(remaining, 3),
        completion_at=iso(now + timedelta(seconds=remaining)),
        method=_method(view, parts, wait=wait) if parts else "every phase done; awaiting the end",
        confidence=round(min(1.0, max(0.0, confidence)), 3),
        error_bound=round(bound, 4),
        samples=min((e.samples for e in parts), default=0),
    )

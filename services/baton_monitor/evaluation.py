"""Thresholds, component health and saturation, evaluated by one replica at a time.

Every replica tries every ``BATON_MONITOR_EVALUATE_INTERVAL`` seconds; the one that locks the
deployment's row in ``monitor_evaluation`` (``for update skip locked``) and finds it not
evaluated within the last half interval takes the turn: it reads the system-wide figures
(every partition's panes, every component), evaluates them against the state the row holds
(crossings and cooldowns, each component's health, saturation), and writes its alerts and
changes into the outbox in the same transaction as the new state. An alert is therefore
raised once, by one replica, and a replica's death — before its commit or after — neither
loses nor repeats one: the next turn, on any replica, starts from the committed state.

:func:`judge` is the evaluation itself (no I/O). :meth:`EvaluationStore.claim` hands out
other work one replica does for all now and then (reading consumer lag).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from baton.db import Database
from baton.protocol.event import Event
from baton.protocol.messages import HealthState
from baton_monitor.health import Registry, assess
from baton_monitor.rules import ThresholdRule
from baton_monitor.saturation import Saturation, SaturationLimits, event_data, track
from baton_monitor.thresholds import ThresholdState, evaluate

__all__ = [
    "Assessment",
    "EvaluationState",
    "EvaluationStore",
    "Judgement",
    "Turn",
    "judge",
    "overlay",
]


class Assessment(BaseModel):
    """A component's health as last evaluated."""

    model_config = ConfigDict(extra="forbid")

    health: HealthState = "unknown"
    reason: str = "no heartbeat yet"
    since: datetime | None = None


class EvaluationState(BaseModel):
    """What one evaluation leaves to the next, whichever replica makes it."""

    model_config = ConfigDict(extra="forbid")

    thresholds: ThresholdState = Field(default_factory=ThresholdState)
    """Crossings firing or cooling down."""
    saturation: Saturation = Field(default_factory=Saturation)
    """Whether the system is saturated."""
    health: dict[str, Assessment] = Field(default_factory=dict)
    """Each component's health, by id."""


def overlay(registry: Registry, health: Mapping[str, Assessment]) -> Registry:
    """Give ``registry``'s records their evaluated health (in place; returned)."""
    for component, record in registry.components.items():
        known = health.get(component)
        if known is not None:
            record.health, record.reason, record.since = known.health, known.reason, known.since
    return registry


@dataclass(frozen=True, slots=True)
class Judgement:
    """The events one evaluation decided, by kind."""

    alerts: list[Event]
    """Threshold alerts and clearings."""
    changes: list[Event]
    """Components' health changes, then the saturation verdict (if any)."""

    @property
    def events(self) -> list[Event]:
        """Everything to publish, in order."""
        return self.alerts + self.changes


def judge(
    state: EvaluationState,
    *,
    rules: Sequence[ThresholdRule],
    values: Mapping[str, float],
    registry: Registry,
    interval: float,
    limits: SaturationLimits,
    now: datetime,
    announce: bool,
) -> Judgement:
    """Evaluate ``values`` and ``registry`` at ``now``: the events to publish.

    Changes ``state`` in place: threshold alerts and clearings
    (:func:`~baton_monitor.thresholds.evaluate`), ``COMPONENT_HEALTH_CHANGED`` for each
    component whose health changed (:func:`~baton_monitor.health.assess`, the heartbeat
    ``interval``), and ``SYSTEM_SATURATION`` when saturation flips — or whatever it is when
    ``announce`` (a replica's first turn: whoever holds back work on a saturation learns
    the current verdict even if a flip went unheard).
    """
    state.thresholds, crossed = evaluate(state.thresholds, list(rules), values, now=now)
    alerts = [
        Event(
            event_type=alert.event_type,
            workflow_id=alert.workflow_id,
            phase=alert.phase,
            data=alert.data,
        )
        for alert in crossed
    ]
    changes: list[Event] = []
    overlay(registry, state.health)
    registry, changed = assess(registry, now=now, interval=interval)
    state.health = {
        component: Assessment(health=record.health, reason=record.reason, since=record.since)
        for component, record in registry.components.items()
    }
    for change in changed:
        changes.append(
            Event(
                event_type="COMPONENT_HEALTH_CHANGED",
                workflow_id="global",
                phase=change.component_id,
                data=change.model_dump(mode="json"),
            )
        )
    state.saturation, flipped = track(state.saturation, values, limits=limits, now=now)
    if flipped or announce:
        changes.append(
            Event(
                event_type="SYSTEM_SATURATION",
                workflow_id="global",
                phase="monitor",
                data=event_data(state.saturation),
            )
        )
    return Judgement(alerts=alerts, changes=changes)


@dataclass(slots=True)
class Turn:
    """The evaluation row, locked: write events into ``conn`` and change ``state``."""

    conn: Any
    state: EvaluationState


class EvaluationStore:
    """``monitor_evaluation`` and ``monitor_turns`` rows of one consumer group.

    Args:
        db: The database.
        owner: The monitor's consumer group (``<prefix>.monitor``).
        holder: This replica's name.
    """

    def __init__(self, *, db: Database, owner: str, holder: str) -> None:
        self.db = db
        self.owner = owner
        self.holder = holder
        self._created = False

    @contextlib.asynccontextmanager
    async def turn(self, *, gap: float) -> AsyncIterator[Turn | None]:
        """The evaluation row, locked for this transaction, or None when another replica
        holds it or evaluated less than ``gap`` seconds ago. The state is saved when the
        block exits cleanly; an exception rolls everything back.

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        if not self._created:  # committed at once: a turn never waits for another's insert
            async with self.db.connection() as conn:
                await conn.execute(
                    "insert into monitor_evaluation (owner, state) values ($1, '{}') "
                    "on conflict (owner) do nothing",
                    self.owner,
                )
            self._created = True
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(
                "select state::text as state, "
                "coalesce(evaluated_at > now() - make_interval(secs => $2), false) as recent "
                "from monitor_evaluation where owner = $1 for update skip locked",
                self.owner,
                gap,
            )
            if row is None or row["recent"]:
                yield None
                return
            turn = Turn(conn=conn, state=EvaluationState.model_validate_json(row["state"]))
            yield turn
            await conn.execute(
                "update monitor_evaluation set state = $2::text::jsonb, evaluated_at = now(), "
                "holder = $3 where owner = $1",
                self.owner,
                turn.state.model_dump_json(),
                self.holder,
            )

    async def read(self) -> EvaluationState:
        """The state as last evaluated (empty before any evaluation).

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        async with self.db.connection() as conn:
            text = await conn.fetchval(
                "select state::text from monitor_evaluation where owner = $1", self.owner
            )
        return EvaluationState() if text is None else EvaluationState.model_validate_json(text)

    async def claim(self, name: str, *, every: float) -> bool:
        """Whether this replica is the one to do ``name`` now: nobody did it in the last
        ``every`` seconds (this claims it, atomically).

        Raises:
            DependencyUnavailableError: PostgreSQL does not answer.
        """
        async with self.db.connection() as conn:
            claimed = await conn.fetchval(
                "insert into monitor_turns (owner, name, at, holder) values ($1, $2, now(), $3) "
                "on conflict (owner, name) do update set at = now(), holder = excluded.holder "
                "where monitor_turns.at <= now() - make_interval(secs => $4) "
                "returning holder",
                self.owner,
                name,
                self.holder,
                every,
            )
        return claimed is not None

"""Per-agent circuit breakers: stop sending work to an agent that keeps failing.

A breaker is ``closed`` (work flows) until ``failure_threshold`` failures fall within
``window_seconds``; then it is ``open`` (no work) for ``cooldown_seconds``, after which it is
``half_open``: ``half_open_trials`` attempts may go through. A success while half-open closes
it (its failures forgotten); a failure while half-open opens it again for a new cooldown.

Choices the protocol leaves open (the protocol asks for a circuit breaker "to prevent cascade
failures"):

- The open → half-open step needs no event: the state is derived from the time passed in.
- While open, failures and successes are ignored: they report work sent before it opened, so
  they neither extend the cooldown nor close it early.
- While closed, a success does not clear earlier failures: the window counts failures, so an
  agent failing every other task still opens its breaker.

State is pydantic data that round-trips through :meth:`BreakerRegistry.to_dict` and
:meth:`BreakerRegistry.from_dict`; operations change it in place. Times must be
timezone-aware (naive ones are taken as UTC). The service keeps each agent's
:class:`Breaker` in that agent's row (:mod:`~baton_recovery.failures.watchlist`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from baton.protocol.messages.base import Timestamp

__all__ = [
    "Breaker",
    "BreakerChange",
    "BreakerPolicy",
    "BreakerRegistry",
    "BreakerState",
]

BreakerState = Literal["closed", "open", "half_open"]
"""closed: work flows; open: none; half_open: a few trial attempts."""


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When breakers open and close again (module doc)."""

    failure_threshold: int = 5
    window_seconds: float = 60.0
    cooldown_seconds: float = 30.0
    half_open_trials: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.half_open_trials < 1:
            raise ValueError("failure_threshold and half_open_trials must be at least 1")
        if not (self.window_seconds > 0 and self.cooldown_seconds >= 0):
            raise ValueError("window_seconds must be positive and cooldown_seconds not negative")


@dataclass(frozen=True, slots=True)
class BreakerChange:
    """The state of one agent's breaker before and after an operation."""

    agent_id: str
    before: BreakerState
    after: BreakerState

    @property
    def changed(self) -> bool:
        """True when the operation moved the breaker to another state."""
        return self.before != self.after


class Breaker(BaseModel):
    """One agent's breaker."""

    model_config = ConfigDict(extra="forbid")

    failures: list[Timestamp] = Field(default_factory=list)
    """Times of failures while closed, within the window of the latest one."""
    opened_at: Timestamp | None = None
    """When it last opened; None while closed."""
    trials: NonNegativeInt = 0
    """Attempts let through since it turned half-open."""
    times_opened: NonNegativeInt = 0
    """How often it opened, all in all."""

    def state(self, *, now: datetime, policy: BreakerPolicy) -> BreakerState:
        """closed, open, or half_open once the cooldown has passed."""
        if self.opened_at is None:
            return "closed"
        if _utc(now) < self.opened_at + timedelta(seconds=policy.cooldown_seconds):
            return "open"
        return "half_open"

    def allows(self, *, now: datetime, policy: BreakerPolicy) -> bool:
        """True when an attempt may be sent to the agent now."""
        state = self.state(now=now, policy=policy)
        return state == "closed" or (state == "half_open" and self.trials < policy.half_open_trials)

    def record_attempt(self, *, now: datetime, policy: BreakerPolicy) -> BreakerState:
        """An attempt was sent to the agent; counts as a trial while half-open."""
        state = self.state(now=now, policy=policy)
        if state == "half_open":
            self.trials += 1
        return state

    def record_failure(self, *, now: datetime, policy: BreakerPolicy) -> BreakerState:
        """The agent failed an attempt; the state afterwards."""
        now = _utc(now)
        state = self.state(now=now, policy=policy)
        if state == "half_open":
            self._open(now)
        elif state == "closed":
            since = now - timedelta(seconds=policy.window_seconds)
            self.failures = [t for t in self.failures if t > since][-policy.failure_threshold :]
            self.failures.append(now)
            if len(self.failures) >= policy.failure_threshold:
                self._open(now)
        return self.state(now=now, policy=policy)

    def record_success(self, *, now: datetime, policy: BreakerPolicy) -> BreakerState:
        """The agent completed an attempt; the state afterwards."""
        if self.state(now=now, policy=policy) == "half_open":
            self.opened_at = None
            self.failures = []
            self.trials = 0
        return self.state(now=now, policy=policy)

    def _open(self, now: datetime) -> None:
        self.opened_at = now
        self.failures = []
        self.trials = 0
        self.times_opened += 1


class BreakerRegistry(BaseModel):
    """Every agent's breaker, by agent id; an agent without one is closed."""

    model_config = ConfigDict(extra="forbid")

    breakers: dict[str, Breaker] = Field(default_factory=dict)
    """The breakers that have seen a failure."""

    def state(self, agent_id: str, *, now: datetime, policy: BreakerPolicy) -> BreakerState:
        """The state of an agent's breaker."""
        breaker = self.breakers.get(agent_id)
        return "closed" if breaker is None else breaker.state(now=now, policy=policy)

    def allows(self, agent_id: str, *, now: datetime, policy: BreakerPolicy) -> bool:
        """True when an attempt may be sent to the agent now."""
        breaker = self.breakers.get(agent_id)
        return breaker is None or breaker.allows(now=now, policy=policy)

    def record_attempt(
        self, agent_id: str, *, now: datetime, policy: BreakerPolicy
    ) -> BreakerChange:
        """An attempt was sent to the agent."""
        breaker = self.breakers.get(agent_id)
        if breaker is None:
            return BreakerChange(agent_id, "closed", "closed")
        before = breaker.record_attempt(now=now, policy=policy)
        return BreakerChange(agent_id, before, before)

    def record_failure(
        self, agent_id: str, *, now: datetime, policy: BreakerPolicy
    ) -> BreakerChange:
        """The agent failed an attempt."""
        breaker = self.breakers.setdefault(agent_id, Breaker())
        before = breaker.state(now=now, policy=policy)
        return BreakerChange(agent_id, before, breaker.record_failure(now=now, policy=policy))

    def record_success(
        self, agent_id: str, *, now: datetime, policy: BreakerPolicy
    ) -> BreakerChange:
        """The agent completed an attempt."""
        breaker = self.breakers.get(agent_id)
        if breaker is None:
            return BreakerChange(agent_id, "closed", "closed")
        before = breaker.state(now=now, policy=policy)
        return BreakerChange(agent_id, before, breaker.record_success(now=now, policy=policy))

    def not_closed(self, *, now: datetime, policy: BreakerPolicy) -> dict[str, BreakerState]:
        """Agents whose breaker is open or half-open, by id, sorted."""
        states = {a: b.state(now=now, policy=policy) for a, b in sorted(self.breakers.items())}
        return {a: s for a, s in states.items() if s != "closed"}

    def prune(self, *, now: datetime, policy: BreakerPolicy) -> list[str]:
        """Forget closed breakers without a failure in the window; the agents forgotten."""
        since = _utc(now) - timedelta(seconds=policy.window_seconds)
        gone = [
            agent
            for agent, b in self.breakers.items()
            if b.state(now=now, policy=policy) == "closed" and all(t <= since for t in b.failures)
        ]
        for agent in gone:
            del self.breakers[agent]
        return sorted(gone)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data to persist."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BreakerRegistry:
        """The registry :meth:`to_dict` produced."""
        return cls.model_validate(data)

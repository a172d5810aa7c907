"""Whether the system is saturated, and why.

The monitor publishes ``SYSTEM_SATURATION:global:monitor:{saturated, reason, since}`` when
this changes; while saturated, the resource manager holds back low-priority admissions.

:func:`saturated` is the test: the system is saturated when any watched value exceeds its
limit. A limit named ``m`` watches the value ``m`` and every ``m:<subject>`` (so
``consumer_lag`` watches each group's lag). Default limits (choices the protocol leaves
open): ``latency_p95`` 5 s, ``consumer_lag`` 10 000 records, ``agent_utilisation`` 95 %
(share of the agent pool allocated, as the resource manager reports it); ``None`` switches
one off, ``extra`` adds others. The reason names every value over its limit, e.g.
``latency_p95 7.2 > 5; consumer_lag:baton-hub 12000 > 10000``.

:func:`track` adds hysteresis for admission control, which must not flap: the state turns
saturated when :func:`saturated` says so, and back only when every watched value is at or
below ``release`` (default 0.8) times its limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from baton_monitor.state import iso

__all__ = ["Saturation", "SaturationLimits", "event_data", "saturated", "track"]


class SaturationLimits(BaseModel):
    """Limits past which the system counts as saturated (module doc)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_p95: float | None = Field(default=5.0, gt=0)
    """95th percentile event latency, in seconds."""
    consumer_lag: float | None = Field(default=10_000.0, gt=0)
    """Records a consumer group is behind."""
    agent_utilisation: float | None = Field(default=95.0, gt=0)
    """Agents allocated, in % of the pool."""
    extra: dict[str, float] = Field(default_factory=dict)
    """Other metric → limit."""
    release: float = Field(default=0.8, gt=0, le=1)
    """Fraction of each limit every value must be back under to leave saturation."""

    def table(self) -> dict[str, float]:
        """Every active limit by metric, in the order reasons list them."""
        named = {
            "latency_p95": self.latency_p95,
            "consumer_lag": self.consumer_lag,
            "agent_utilisation": self.agent_utilisation,
        }
        out = {metric: limit for metric, limit in named.items() if limit is not None}
        for metric, limit in sorted(self.extra.items()):
            out.setdefault(metric, limit)
        return out


class Saturation(BaseModel):
    """Whether the system is saturated, why, and since when."""

    model_config = ConfigDict(extra="forbid")

    saturated: bool = False
    """True while admissions of low priority should wait."""
    reason: str = ""
    """Values over their limits, while saturated."""
    since: datetime | None = None
    """When the current state began (None: never changed)."""


def _watched(values: Mapping[str, float], metric: str) -> list[tuple[str, float]]:
    return [(k, v) for k, v in sorted(values.items()) if k.partition(":")[0] == metric]


def _over(values: Mapping[str, float], limits: SaturationLimits, *, scale: float) -> list[str]:
    out: list[str] = []
    for metric, limit in limits.table().items():
        for key, value in _watched(values, metric):
            if value > limit * scale:
                out.append(f"{key} {value:g} > {limit * scale:g}")
    return out


def saturated(values: Mapping[str, float], *, limits: SaturationLimits) -> tuple[bool, str]:
    """True and the reason when a value exceeds its limit; else False and ``""``."""
    over = _over(values, limits, scale=1.0)
    return bool(over), "; ".join(over)


def track(
    state: Saturation,
    values: Mapping[str, float],
    *,
    limits: SaturationLimits,
    now: datetime,
) -> tuple[Saturation, bool]:
    """The saturation state after ``values`` at ``now``, and whether it flipped (module doc).

    Changes ``state`` in place and returns it. While saturated, the reason follows the values
    without counting as a change.
    """
    hit, reason = saturated(values, limits=limits)
    if not state.saturated:
        if hit:
            state.saturated, state.reason, state.since = True, reason, now
        return state, hit
    if _over(values, limits, scale=limits.release):
        if hit:
            state.reason = reason
        return state, False
    state.saturated, state.reason, state.since = False, "", now
    return state, True


def event_data(state: Saturation) -> dict[str, Any]:
    """Data of ``SYSTEM_SATURATION``: ``saturated``, ``reason``, ``since``."""
    return {
        "saturated": state.saturated,
        "reason": state.reason,
        "since": iso(state.since) if state.since is not None else None,
    }

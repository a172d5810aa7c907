"""Utilisation thresholds: RESOURCE_THRESHOLD once per crossing.

A pool *breaches* its threshold when its utilisation (percent of capacity in use) reaches
it; the event is emitted when the pool goes from below to at-or-above, and not again until
the utilisation has dropped below the threshold. Which pools are breached is part of the
persisted state, so a restart does not repeat an event. Thresholds are percentages keyed by
pool name (``agents``, ``memory_gb``, ``cpu_cores``, ``tool_instances.<tool>``), with
``default`` for every pool not named; the default default is 80. Pools of capacity 0 are
never reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from baton_resource.records import ResourceEvent

__all__ = ["DEFAULT_THRESHOLD", "check_thresholds", "threshold_table"]

DEFAULT_THRESHOLD: Final = 80.0
"""Threshold of every pool not configured otherwise (percent)."""


def threshold_table(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    """Validated thresholds, with ``default`` always present.

    Raises:
        ValueError: a threshold is not a number in (0, 100].
    """
    table = {"default": DEFAULT_THRESHOLD, **(thresholds or {})}
    for name, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
            raise ValueError(f"threshold {name!r} must be a percentage in (0, 100], got {value!r}")
    return {name: float(value) for name, value in table.items()}


def check_thresholds(
    *,
    usage: Mapping[str, Mapping[str, Any]],
    table: Mapping[str, float],
    breached: Sequence[str],
) -> tuple[list[ResourceEvent], list[str]]:
    """Events for pools that newly reached their threshold, and the pools now breached.

    Args:
        usage: Pool name → ``capacity``, ``used``, ``utilisation`` (from ``ResourcePools.usage``).
        table: Thresholds from :func:`threshold_table`.
        breached: Pools breached before this check.
    """
    before = set(breached)
    events: list[ResourceEvent] = []
    now_breached: list[str] = []
    for name, pool in usage.items():
        if pool["capacity"] <= 0:
            continue
        limit = table.get(name, table["default"])
        # Compared unrounded: 79.996 % has not reached 80 % even if status shows 80.0.
        if 100.0 * pool["used"] / pool["capacity"] < limit:
            continue
        now_breached.append(name)
        if name not in before:
            data = {
                "resource_type": name,
                "current_usage": float(pool["utilisation"]),
                "threshold": limit,
                "used": pool["used"],
                "capacity": pool["capacity"],
            }
            events.append(
                ResourceEvent(
                    event_type="RESOURCE_THRESHOLD", workflow_id="global", phase="global", data=data
                )
            )
    return events, now_breached

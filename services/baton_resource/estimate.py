"""When will each waiting request start: a replay of the future.

The queue is replayed against the allocations held: at each step the same pass that grants
requests for real (:func:`~baton_resource.planner.plan_grants`) runs on the simulated
state; what it grants starts then and is expected to end ``duration_hours`` later; then the
clock jumps to the next expected end and those resources are freed. A held allocation ends
at its expected end, or, when it already overran that, at its lease deadline (the latest it
can be held, since the lease then releases it), or now when both have passed.

Arrivals after ``now`` are not known, so a request can start later than estimated when a
higher-ranked one arrives in the meantime, and earlier when holders finish early.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from baton_resource.leases import span
from baton_resource.planner import Candidate, Holding, plan_grants
from baton_resource.pools import Amounts

__all__ = ["Start", "estimate_starts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Start:
    """Estimated start of a waiting request."""

    at: datetime
    full: bool
    """Whether it would get everything it asked for (False: fewer agents)."""


def estimate_starts(
    *,
    order: Sequence[Candidate],
    holdings: Sequence[Holding],
    capacity: Amounts,
    now: datetime,
) -> dict[str, Start]:
    """Request id → estimated start, for the candidates in serving order.

    A candidate missing from the answer would never start (the pools cannot hold it).
    """
    running = [replace(h, ends_at=max(h.ends_at, now)) for h in holdings]
    pending = list(order)
    clock = now
    starts: dict[str, Start] = {}
    while pending:
        plan = plan_grants(pending, holdings=running, capacity=capacity)
        for grant in plan.grants:
            candidate = grant.candidate
            starts[candidate.request_id] = Start(at=clock, full=not grant.partial)
            running.append(
                Holding(
                    key=candidate.request_id,
                    request_id=candidate.request_id,
                    workflow_id=candidate.workflow_id,
                    amounts=grant.amounts,
                    files=frozenset(candidate.files),
                    sharing=candidate.sharing,
                    ends_at=clock + span(candidate.duration_hours),
                )
            )
        granted = {g.candidate.request_id for g in plan.grants}
        pending = [c for c in pending if c.request_id not in granted]
        if not pending or not running:
            break
        # Every step grants something or frees at least one holding, so the replay ends.
        clock = max(clock, min(h.ends_at for h in running))
        running = [h for h in running if h.ends_at > clock]
    return starts

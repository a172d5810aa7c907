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

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from baton_resource.leases import span
from baton_resource.planner import Candidate, Grant, Holding, Pass
from baton_resource.pools import Amounts

__all__ = ["Start", "estimate_starts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Start:
    """Estimated start of a waiting request."""

    at: datetime
    full: bool
    """Whether it would get everything it asked for (False: fewer agents)."""


class _Waiting:
    """The candidates not started yet, in serving order; one leaves in constant time.

    A doubly linked list over the positions in ``order``, ``len(order)`` standing for both
    ends; beside it, the positions of the candidates that need no agent (the only ones a
    pass still looks at once its agents are spent).
    """

    def __init__(self, order: Sequence[Candidate]) -> None:
        self.order = list(order)
        end = len(self.order)
        self.end = end
        self.next = [*range(1, end + 1), 0 if end else end]
        self.prev = [*range(-1, end - 1), end - 1] if end else [end]
        if end:
            self.prev[0] = end
        self.count = end
        self.agentless = [i for i, c in enumerate(self.order) if not c.need.agents]

    def remove(self, index: int) -> None:
        before, after = self.prev[index], self.next[index]
        self.next[before] = after
        self.prev[after] = before
        self.prev[index] = -1  # marks it gone
        self.count -= 1

    def gone(self, index: int) -> bool:
        return self.prev[index] < 0

    def serve(self, step: Pass) -> list[tuple[int, Grant]]:
        """Offer ``step`` the waiting candidates in order, skipping those that cannot
        matter once its agents are spent; the positions granted, with their grants."""
        granted: list[tuple[int, Grant]] = []
        index = self.next[self.end]
        while index != self.end and not step.spent:
            grant = step.offer(self.order[index])
            if grant is not None:
                granted.append((index, grant))
            index = self.next[index]
        if index != self.end and self.agentless:
            for position in self.agentless[bisect_left(self.agentless, index) :]:
                if not self.gone(position):
                    grant = step.offer(self.order[position])
                    if grant is not None:
                        granted.append((position, grant))
        for position, _ in granted:
            self.remove(position)
        if self.agentless and granted:
            self.agentless = [i for i in self.agentless if not self.gone(i)]
        return granted


def estimate_starts(
    *,
    order: Sequence[Candidate],
    holdings: Sequence[Holding],
    capacity: Amounts,
    now: datetime,
    need: str | None = None,
) -> dict[str, Start]:
    """Request id → estimated start, for the candidates in serving order.

    A candidate missing from the answer would never start (the pools cannot hold it).

    Args:
        need: Stop once this request's start is known (the answer then holds it and those
            found before it); None: every start.
    """
    running = [replace(h, ends_at=max(h.ends_at, now)) for h in holdings]
    waiting = _Waiting(order)
    clock = now
    starts: dict[str, Start] = {}
    while waiting.count:
        # Each step costs what is held and what the pass looks at, not the whole queue: a
        # pass stops looking once its agents are spent (module planner).
        step = Pass(holdings=running, capacity=capacity)
        for _, grant in waiting.serve(step):
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
        if not waiting.count or not running or (need is not None and need in starts):
            break
        # Every step grants something or frees at least one holding, so the replay ends.
        clock = max(clock, min(h.ends_at for h in running))
        running = [h for h in running if h.ends_at > clock]
    return starts

"""The allocator's book-keeping: allocations, queue and answers kept in one state.

:class:`Ledger` applies decisions to an :class:`AllocatorState` and builds the events they
cause; :class:`~baton_resource.allocator.Allocator` decides. Nothing here reads a clock.
The state may be part of the whole (:mod:`~baton_resource.window`): the ledger then counts
what it does not see, and raises :class:`~baton_resource.window.NeedsMore` where an answer
would depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from baton.protocol.duration import format_duration
from baton.protocol.messages import (
    AllocatedResources,
    AllocationAlternative,
    AllocationRequest,
    AllocationResponse,
)
from baton_resource import responses as build
from baton_resource.estimate import Start, estimate_starts
from baton_resource.leases import lease_seconds, release_estimate, span
from baton_resource.planner import Candidate, Grant, Holding, Plan, plan_grants
from baton_resource.pools import Amounts, ResourcePools, total
from baton_resource.queue import ordered
from baton_resource.reasons import conflicting_files
from baton_resource.records import (
    Allocation,
    AllocatorState,
    Decision,
    QueuedRequest,
    ResourceEvent,
)
from baton_resource.thresholds import check_thresholds
from baton_resource.window import FULL, Missing, NeedsMore, Window

__all__ = ["Ledger", "Snapshot"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """The queue in serving order and the holdings, as seen at one instant."""

    order: list[QueuedRequest]
    candidates: list[Candidate]
    holdings: list[Holding]


class Ledger:
    """Holds the state and applies changes to it.

    Args:
        pools: Capacity of every pool.
        state: The state to change in place.
        aging_per_minute: Aging rate of the queue.
        grace: Lease length as a multiple of the duration.
        thresholds: Validated threshold table.
        remember: How long answers are kept after their request is settled.
        held: Priorities whose admission waits while the system is saturated.
        window: What part of the whole state ``state`` is (default: all of it).
    """

    def __init__(
        self,
        *,
        pools: ResourcePools,
        state: AllocatorState,
        aging_per_minute: float,
        grace: float,
        thresholds: Mapping[str, float],
        remember: timedelta,
        held: frozenset[str] = frozenset(),
        window: Window = FULL,
    ) -> None:
        self.pools = pools
        self.capacity = pools.capacity
        self.state = state
        self.aging = aging_per_minute
        self.grace = grace
        self._table = thresholds
        self._remember = remember
        self.held = held
        self.window = window

    def lease(self, duration_hours: float) -> float:
        """Lease length in seconds for a duration."""
        return lease_seconds(duration_hours=duration_hours, grace=self.grace)

    def used(self) -> Amounts:
        """Everything held (also by the allocations the window leaves out)."""
        held = total(Amounts.of(a.resources) for a in self.state.allocations)
        unseen = self.window.unseen
        return held if unseen is None else held.plus(unseen.amounts)

    def snapshot(self, *, now: datetime, extra: QueuedRequest | None = None) -> Snapshot:
        """Queue order (with ``extra`` as if it had joined) and holdings at ``now``."""
        queue = [*self.state.queue, *([extra] if extra else [])]
        order = ordered(queue, now=now, aging_per_minute=self.aging)
        holdings = [
            Holding(
                key=a.allocation_id,
                request_id=a.request_id,
                workflow_id=a.workflow_id,
                amounts=Amounts.of(a.resources),
                files=frozenset(a.resources.exclusive_files),
                sharing=a.sharing,
                ends_at=release_estimate(a, now=now),
            )
            for a in self.state.allocations
        ]
        unseen = self.window.unseen
        if unseen is not None:
            # No files: the holders of every file in question are in the state.
            holdings.append(
                Holding(
                    key="",
                    request_id="",
                    workflow_id="",
                    amounts=unseen.amounts,
                    files=frozenset(),
                    sharing=False,
                    ends_at=unseen.ends_at,
                )
            )
        candidates = [Candidate.of(q.request) for q in order]
        return Snapshot(order=order, candidates=candidates, holdings=holdings)

    def holds(self, priority: str) -> bool:
        """Whether a request of ``priority`` must wait now because the system is saturated."""
        return self.state.saturation is not None and priority in self.held

    def admissible(self, snap: Snapshot) -> list[Candidate]:
        """The snapshot's candidates that may be granted now (none held back)."""
        if self.state.saturation is None or not self.held:
            return snap.candidates
        return [
            c
            for q, c in zip(snap.order, snap.candidates, strict=True)
            if q.request.priority not in self.held
        ]

    def starts(
        self,
        snap: Snapshot,
        *,
        now: datetime,
        candidates: Sequence[Candidate] | None = None,
        need: str | None = None,
    ) -> dict[str, Start]:
        """Estimated starts of the snapshot's queue (or of ``candidates`` in its place).

        Args:
            need: The request whose start is asked for; it needs the whole queue, and the
                answer may hold no start found after its own. None: every start, of the
                queue held (a status, which may show part of it).

        Raises:
            NeedsMore: the window is too small for an exact answer.
        """
        if need is not None and not self.window.queue_complete:
            raise NeedsMore(Missing.QUEUE)
        order = snap.candidates if candidates is None else candidates
        found = estimate_starts(
            order=order, holdings=snap.holdings, capacity=self.capacity, now=now, need=need
        )
        unseen = self.window.unseen
        if unseen is not None:
            for rid in [need] if need is not None else [c.request_id for c in order]:
                start = found.get(rid)
                if start is None or start.at >= unseen.ends_at:
                    raise NeedsMore(Missing.HOLDINGS)
        return found

    def check_arrival(self, plan: Plan, request_id: str) -> None:
        """Raise unless the plan for a new request is exact in this window.

        With part of the queue, only "granted, and nothing else" is (the queue is settled,
        see :mod:`~baton_resource.window`).
        """
        if self.window.queue_complete or self.window.admissible_complete:
            return
        if [g.candidate.request_id for g in plan.grants] != [request_id]:
            raise NeedsMore(Missing.QUEUE)

    def record(self, response: AllocationResponse, *, now: datetime) -> None:
        """Remember the latest answer to a request."""
        self.state.decisions[response.request_id] = Decision(response=response, updated_at=now)

    def commit(
        self,
        grants: Sequence[Grant],
        *,
        now: datetime,
        arrival: AllocationRequest | None = None,
        alternatives: Mapping[str, list[AllocationAlternative]] | None = None,
    ) -> tuple[list[AllocationResponse], list[ResourceEvent]]:
        """Turn grants into allocations; answers and RESOURCE_ALLOCATED events in order."""
        queued = {q.request.request_id: q.request for q in self.state.queue}
        responses: list[AllocationResponse] = []
        events: list[ResourceEvent] = []
        for grant in grants:
            rid = grant.candidate.request_id
            request = queued.get(rid) or arrival
            if request is None or request.request_id != rid:
                raise ValueError(f"grant for unknown request {rid}")
            allocation = self._allocation(grant, request=request, now=now)
            self.state.allocations.append(allocation)
            response = build.grant_response(
                allocation,
                lease_seconds=self.lease(allocation.resources.duration_hours),
                now=now,
                response_id=build.derived_id("resp", rid, suffix="-grant" if rid in queued else ""),
                alternatives=(alternatives or {}).get(rid),
            )
            self.record(response, now=now)
            responses.append(response)
            events.append(build.allocated_event(allocation))
        done = {g.candidate.request_id for g in grants}
        self.state.queue = [q for q in self.state.queue if q.request.request_id not in done]
        return responses, events

    def _allocation(self, grant: Grant, *, request: AllocationRequest, now: datetime) -> Allocation:
        amounts = grant.amounts
        hours = request.resources.duration_hours
        resources = AllocatedResources(
            allocation_id=build.derived_id("alloc", request.request_id),
            agents=amounts.agents,
            memory_gb=amounts.memory_gb,
            cpu_cores=amounts.cpu_cores,
            duration_hours=hours,
            exclusive_files=list(grant.candidate.files),
            tool_instances=dict(amounts.tool_instances),
        )
        return Allocation(
            allocation_id=resources.allocation_id,
            request_id=request.request_id,
            workflow_id=request.workflow_id,
            requester=request.requester,
            priority=request.priority,
            status="partial" if grant.partial else "approved",
            resources=resources,
            shared_files=list(grant.shared_files),
            sharing=grant.candidate.sharing,
            allocated_at=now,
            expected_end=now + span(hours),
            lease_deadline=now + timedelta(seconds=self.lease(hours)),
        )

    def serve(self, *, now: datetime) -> tuple[list[AllocationResponse], list[ResourceEvent]]:
        """Grant what the queue can get now.

        Raises:
            NeedsMore: the window's prefix of the queue may not hold every grant.
        """
        if not self.state.queue and self.window.admissible_complete:
            return [], []
        snap = self.snapshot(now=now)
        admissible = self.admissible(snap)
        if not self.window.admissible_complete:
            # The pass over the prefix alone is the start of the pass over the whole queue.
            prefix = [c for c in admissible if c.request_id in self.window.prefix]
            head = plan_grants(prefix, holdings=snap.holdings, capacity=self.capacity)
            if head.reserved_by is None or head.left.agents > 0:
                raise NeedsMore(Missing.PREFIX)
        plan = plan_grants(admissible, holdings=snap.holdings, capacity=self.capacity)
        return self.commit(plan.grants, now=now)

    def drop_allocations(
        self, targets: Iterable[Allocation], *, reason: str, now: datetime
    ) -> tuple[list[str], list[ResourceEvent]]:
        """Release allocations; their ids and RESOURCE_DEALLOCATED events."""
        gone = {a.allocation_id: a for a in targets}
        self.state.allocations = [a for a in self.state.allocations if a.allocation_id not in gone]
        for held in gone.values():
            known = self.state.decisions.get(held.request_id)
            if known is not None:
                # The forgetting window starts at the release, not at the grant.
                self.state.decisions[held.request_id] = known.model_copy(update={"updated_at": now})
        events = [build.deallocated_event(a, reason=reason) for a in gone.values()]
        return list(gone), events

    def drop_queued(
        self, entries: Iterable[QueuedRequest], *, reason: str, now: datetime
    ) -> list[str]:
        """Remove queued requests, answering each ``denied`` with the reason."""
        ids = [q.request.request_id for q in entries]
        drop = set(ids)
        self.state.queue = [q for q in self.state.queue if q.request.request_id not in drop]
        for rid in ids:
            gone = AllocationAlternative(option="cancelled", reason=reason)
            self.record(
                build.answer(
                    request_id=rid,
                    status="denied",
                    now=now,
                    response_id=build.derived_id("resp", rid, suffix="-cancel"),
                    alternatives=[gone],
                ),
                now=now,
            )
        return ids

    def deny(
        self,
        request_id: str,
        *,
        now: datetime,
        alternatives: list[AllocationAlternative],
    ) -> AllocationResponse:
        """Answer a new request ``denied`` and remember the answer."""
        response = build.answer(
            request_id=request_id,
            status="denied",
            now=now,
            response_id=build.derived_id("resp", request_id),
            alternatives=alternatives,
        )
        self.record(response, now=now)
        return response

    def conflicts(
        self, candidate: Candidate, *, blockers: Sequence[Holding], resolution: str
    ) -> list[ResourceEvent]:
        """RESOURCE_CONFLICT when holdings of other workflows keep the candidate's files."""
        if not blockers:
            return []
        keys = {h.key for h in blockers}
        event = build.conflict_event(
            request_id=candidate.request_id,
            workflow_id=candidate.workflow_id,
            files=conflicting_files(candidate, blockers=blockers),
            holders=[a for a in self.state.allocations if a.allocation_id in keys],
            resolution=resolution,
        )
        return [event]

    def thresholds(self) -> list[ResourceEvent]:
        """RESOURCE_THRESHOLD events for pools that newly reached their threshold."""
        events, breached = check_thresholds(
            usage=self.pools.usage(used=self.used()),
            table=self._table,
            breached=self.state.breached,
        )
        self.state.breached = breached
        return events

    def forget(self, *, now: datetime) -> None:
        """Drop answers to settled requests older than the remembering window."""
        cutoff = now - self._remember
        live = {q.request.request_id for q in self.state.queue}
        live.update(a.request_id for a in self.state.allocations)
        self.state.decisions = {
            rid: d
            for rid, d in self.state.decisions.items()
            if rid in live or d.updated_at >= cutoff
        }

    def current(self, response: AllocationResponse, *, now: datetime) -> AllocationResponse:
        """A stored answer; a still-queued one with its position and estimate refreshed."""
        if response.status != "queued":
            return response
        snap = self.snapshot(now=now)
        ids = [q.request.request_id for q in snap.order]
        if response.request_id not in ids:
            return response
        start = self.starts(snap, now=now, need=response.request_id).get(response.request_id)
        update: dict[str, object] = {"queue_position": ids.index(response.request_id) + 1}
        if start is not None:
            wait = max(0.0, (start.at - now).total_seconds())
            update["estimated_start"] = format_duration(wait)
            update["alternatives"] = [build.delayed(start.at, full=start.full)]
        return response.model_copy(update=update)

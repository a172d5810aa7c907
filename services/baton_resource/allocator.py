"""The allocator: request → conflict check → approved | partial | queued | denied.

Pure and deterministic: no I/O, the time is an argument, ids derive from request ids, and
everything it knows is one :class:`AllocatorState`. Rules in brief (details in
:mod:`~baton_resource.planner`, :mod:`~baton_resource.queue`, :mod:`~baton_resource.leases`,
:mod:`~baton_resource.estimate`, :mod:`~baton_resource.thresholds`):

- A new request competes with the queue as if it had just joined it: granted now when the
  serving pass grants it (in full, or with fewer agents under ``reduce_agents``), else
  queued with its position and estimated start, or denied when it may not queue, when the
  estimate exceeds ``max_wait_time`` (unless ``extend_duration``), or when the pools could
  never hold it. Exclusive files held by another workflow are a RESOURCE_CONFLICT.
- Whenever resources free up (release, cancellation, lease expiry) the queue is served.
- ``extend_duration`` is read as "a later start is acceptable": the request queues even
  when the estimate exceeds ``max_wait_time``.
- So the queue is always settled: nothing in it could be granted right now. The service
  relies on that to load only part of it (:mod:`~baton_resource.window`).
- A request id answered before gets its latest answer again and changes nothing; answers
  are remembered while the request is queued or held, and ``remember_hours`` after that.
- Releasing a whole workflow also drops its queued requests (it needs nothing more).
- Saturation feedback: while the monitor says the system is saturated
  (:meth:`Allocator.saturation`), requests of the held priorities (default ``low``) are
  not granted even when resources are free: they queue with the reason and an alternative
  ``wait_for_saturation_clear``, and the queue skips them (also when saturation begins: a
  held request gives up its reservation, so the queue is served). When saturation clears
  the queue is served. Their waiting time still ages them, so they rank high once admitted; the
  starvation bound holds only outside saturation (by design: holding back is the point).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from baton.protocol.messages import (
    AllocationAlternative,
    AllocationRequest,
    AllocationResponse,
    ResourceStateMessage,
)
from baton_resource import responses as build
from baton_resource.leases import MAX_DURATION_HOURS, renewed
from baton_resource.ledger import Ledger, Snapshot
from baton_resource.planner import Candidate, Plan, blocking_holdings, plan_grants
from baton_resource.pools import ResourcePools
from baton_resource.reasons import never_fits, queue_denial, wait_reason
from baton_resource.records import (
    Allocation,
    AllocatorState,
    Outcome,
    QueuedRequest,
    ReleaseOutcome,
    SaturationHold,
)
from baton_resource.report import build_state_sync, build_status
from baton_resource.thresholds import threshold_table
from baton_resource.window import FULL, Window

__all__ = ["REMEMBER_HOURS", "Allocator"]

REMEMBER_HOURS = 24.0
"""How long an answer is remembered once its request is settled (by default)."""


def _utc(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


class Allocator:
    """Allocates resources from fixed pools to workflows.

    Args:
        pools: Capacity of every pool.
        state: State to resume from (e.g. loaded after a restart); its lists are copied,
            never shared.
        aging_per_minute: Effective priority gained per minute of waiting (0: no aging).
        auto_release_grace: Lease length as a multiple of the requested duration (1..100).
        thresholds: Utilisation thresholds in percent by pool name, ``default`` for the rest.
        remember_hours: How long an answer is remembered after its request is settled.
        hold_when_saturated: Priorities held back while the system is saturated.
        window: What part of the whole state ``state`` is (default: all of it); with part,
            an operation may raise :class:`~baton_resource.window.NeedsMore`.

    Raises:
        ValueError: a parameter is out of range.
    """

    def __init__(
        self,
        *,
        pools: ResourcePools,
        state: AllocatorState | None = None,
        aging_per_minute: float = 1.0,
        auto_release_grace: float = 1.5,
        thresholds: Mapping[str, float] | None = None,
        remember_hours: float = REMEMBER_HOURS,
        hold_when_saturated: frozenset[str] = frozenset({"low"}),
        window: Window = FULL,
    ) -> None:
        if not 0 <= aging_per_minute < float("inf"):
            raise ValueError(f"aging_per_minute must be >= 0, got {aging_per_minute!r}")
        if not 1 <= auto_release_grace <= 100:
            raise ValueError(f"auto_release_grace must be in 1..100, got {auto_release_grace!r}")
        if not 0 <= remember_hours <= MAX_DURATION_HOURS:
            raise ValueError(f"remember_hours must be in 0..{MAX_DURATION_HOURS:g}")
        self._book = Ledger(
            pools=pools,
            state=AllocatorState() if state is None else state.copied(),
            aging_per_minute=aging_per_minute,
            grace=auto_release_grace,
            thresholds=threshold_table(thresholds),
            remember=timedelta(hours=remember_hours),
            held=hold_when_saturated,
            window=window,
        )

    @property
    def pools(self) -> ResourcePools:
        """The pools allocated from."""
        return self._book.pools

    @property
    def state(self) -> AllocatorState:
        """A copy of everything the allocator knows, to persist (its records are shared:
        they never change)."""
        return self._book.state.copied()

    def state_json(self) -> dict[str, Any]:
        """The state as JSON-ready data."""
        return self._book.state.model_dump(mode="json")

    def allocation_agents(self) -> dict[str, int]:
        """Allocation id → agents it holds, for every live allocation (no copy)."""
        return {a.allocation_id: a.resources.agents for a in self._book.state.allocations}

    def answer_for(self, *, request_id: str, now: datetime) -> AllocationResponse | None:
        """The latest answer to a request (position and estimate refreshed), or None."""
        known = self._book.state.decisions.get(request_id)
        return None if known is None else self._book.current(known.response, now=_utc(now))

    def request(self, req: AllocationRequest, *, now: datetime) -> Outcome:
        """Answer an allocation request (see the module docstring for the rules)."""
        now = _utc(now)
        book = self._book
        book.forget(now=now)
        known = book.state.decisions.get(req.request_id)
        if known is not None:
            return Outcome(response=book.current(known.response, now=now), repeated=True)
        candidate = Candidate.of(req)
        never = never_fits(candidate, hours=req.resources.duration_hours, capacity=book.capacity)
        if never is not None:
            why = AllocationAlternative(
                option="reduce_request", reason=never, capacity=book.capacity.flat()
            )
            denied = book.deny(req.request_id, now=now, alternatives=[why])
            return Outcome(response=denied, reason=f"can never be served: {never}")
        entry = QueuedRequest(request=req, queued_at=now, seq=book.state.next_seq)
        snap = book.snapshot(now=now, extra=entry)
        plan = plan_grants(book.admissible(snap), holdings=snap.holdings, capacity=book.capacity)
        book.check_arrival(plan, req.request_id)
        if any(g.candidate.request_id == req.request_id for g in plan.grants):
            return self._granted_now(req, plan, snap, now)
        blockers = blocking_holdings(candidate, holdings=snap.holdings)
        start = book.starts(snap, now=now, need=req.request_id).get(req.request_id)
        alternatives = [] if start is None else [build.delayed(start.at, full=start.full)]
        held = book.state.saturation if book.holds(req.priority) else None
        if held is not None:
            alternatives.insert(0, build.held_back(held.reason))
        wait = None if start is None else (start.at - now).total_seconds()
        denial = queue_denial(req, wait=wait)
        conflict = book.conflicts(
            candidate, blockers=blockers, resolution="denied" if denial else "queued"
        )
        if denial is not None:
            denied = book.deny(req.request_id, now=now, alternatives=alternatives)
            return Outcome(response=denied, events=conflict, reason=denial)
        book.state.next_seq += 1
        book.state.queue.append(entry)
        granted, events = book.commit(plan.grants, now=now)
        done = {g.candidate.request_id for g in plan.grants}
        waiting = [c.request_id for c in snap.candidates if c.request_id not in done]
        response = build.answer(
            request_id=req.request_id,
            status="queued",
            now=now,
            response_id=build.derived_id("resp", req.request_id),
            alternatives=alternatives,
            queue_position=waiting.index(req.request_id) + 1,
            wait_seconds=wait,
        )
        book.record(response, now=now)
        reason = (
            f"held back while the system is saturated ({held.reason})"
            if held is not None
            else wait_reason(
                candidate,
                blockers=blockers,
                free=book.pools.free(used=book.used()),
                reserved_by=plan.reserved_by,
            )
        )
        events = [*conflict, *events, *book.thresholds()]
        return Outcome(response=response, events=events, granted=granted, reason=reason)

    def release(
        self,
        *,
        now: datetime,
        allocation_id: str | None = None,
        workflow_id: str | None = None,
        reason: str,
    ) -> ReleaseOutcome:
        """Release one allocation, or everything a workflow holds and waits for.

        Unknown or already released allocations are ignored. Freed resources go to the
        queue.

        Raises:
            ValueError: not exactly one of ``allocation_id`` and ``workflow_id`` given.
        """
        if (allocation_id is None) == (workflow_id is None):
            raise ValueError("release needs exactly one of allocation_id and workflow_id")
        state = self._book.state
        targets = [
            a
            for a in state.allocations
            if a.allocation_id == allocation_id or a.workflow_id == workflow_id
        ]
        dropped = [q for q in state.queue if q.request.workflow_id == workflow_id]
        return self._settle(_utc(now), targets, reason, dropped, f"workflow released: {reason}")

    def cancel_request(
        self,
        *,
        now: datetime,
        request_id: str | None = None,
        workflow_id: str | None = None,
        reason: str = "cancelled",
    ) -> ReleaseOutcome:
        """Remove queued requests (one, or all of a workflow); granted ones are not touched.

        Raises:
            ValueError: not exactly one of ``request_id`` and ``workflow_id`` given.
        """
        if (request_id is None) == (workflow_id is None):
            raise ValueError("cancel_request needs exactly one of request_id and workflow_id")
        dropped = [
            q
            for q in self._book.state.queue
            if q.request.request_id == request_id or q.request.workflow_id == workflow_id
        ]
        return self._settle(_utc(now), [], reason, dropped, reason)

    def expire(self, *, now: datetime) -> ReleaseOutcome:
        """Release every allocation whose lease deadline has passed, then serve the queue."""
        now = _utc(now)
        targets = [a for a in self._book.state.allocations if a.lease_deadline <= now]
        return self._settle(now, targets, "auto_release_timeout", [], "")

    def saturation(self, *, saturated: bool, reason: str, now: datetime) -> ReleaseOutcome:
        """Record the monitor's saturation verdict; when it clears, serve the queue.

        Returns:
            What was granted (when saturation begins, what the held requests no longer
            reserve; when it clears, what they can get now); ``changed`` is True when the
            verdict differs from the one held (a changed reason alone counts as a change).
        """
        now = _utc(now)
        book = self._book
        before = book.state.saturation
        if saturated:
            if before is not None and before.reason == reason:
                return ReleaseOutcome()
            since = before.since if before is not None else now
            book.state.saturation = SaturationHold(reason=reason, since=since)
            if before is not None or not book.held:
                return ReleaseOutcome(saturation_changed=True)
            # Held requests give up their reservation: the queue behind them may start.
            granted, events = book.serve(now=now)
            events = [*events, *book.thresholds()] if granted else events
            return ReleaseOutcome(granted=granted, events=events, saturation_changed=True)
        if before is None:
            return ReleaseOutcome()
        book.state.saturation = None
        granted, events = book.serve(now=now)
        events = [*events, *book.thresholds()]
        return ReleaseOutcome(granted=granted, events=events, saturation_changed=True)

    def serve(self, *, now: datetime) -> ReleaseOutcome:
        """Grant what the queue can get now (e.g. after the pools grew with a restart)."""
        now = _utc(now)
        granted, events = self._book.serve(now=now)
        if not granted:
            return ReleaseOutcome()
        return ReleaseOutcome(granted=granted, events=[*events, *self._book.thresholds()])

    def renew(
        self, allocation_id: str, *, now: datetime, hours: float | None = None
    ) -> datetime | None:
        """Renew a lease for ``hours`` more (default: the allocation's duration).

        Returns:
            The new lease deadline, or None when the allocation is not held.

        Raises:
            ValueError: ``hours`` out of range.
        """
        held = self._book.state.allocations
        for index, allocation in enumerate(held):
            if allocation.allocation_id == allocation_id:
                fresh = renewed(allocation, now=_utc(now), grace=self._book.grace, hours=hours)
                held[index] = fresh
                return fresh.lease_deadline
        return None

    def status(self, *, now: datetime) -> dict[str, Any]:
        """JSON-ready view: pools, allocations, queue with estimates, file holders."""
        now = _utc(now)
        book = self._book
        snap = book.snapshot(now=now)
        plan = plan_grants(book.admissible(snap), holdings=snap.holdings, capacity=book.capacity)
        status = build_status(
            usage=book.pools.usage(used=book.used()),
            allocations=book.state.allocations,
            order=snap.order,
            starts=book.starts(snap, now=now),
            reserved_by=plan.reserved_by,
            aging_per_minute=book.aging,
            now=now,
        )
        held = book.state.saturation
        status["saturation"] = (
            None
            if held is None
            else {"reason": held.reason, "since": held.since.isoformat(), "held": sorted(book.held)}
        )
        return status

    def state_sync(self, *, version: int, now: datetime) -> ResourceStateMessage:
        """What the pools hold, as the state-sync message of state ``version``."""
        book = self._book
        return build_state_sync(
            version=version,
            usage=book.pools.usage(used=book.used()),
            allocations=len(book.state.allocations),
            queued=len(book.state.queue),
            now=_utc(now),
        )

    def _settle(
        self,
        now: datetime,
        targets: Sequence[Allocation],
        reason: str,
        dropped: Sequence[QueuedRequest],
        drop_reason: str,
    ) -> ReleaseOutcome:
        """Release and cancel, then serve the queue with what freed up."""
        if not targets and not dropped:
            return ReleaseOutcome()
        book = self._book
        released, events = book.drop_allocations(targets, reason=reason, now=now)
        cancelled = book.drop_queued(dropped, reason=drop_reason, now=now)
        granted, grant_events = book.serve(now=now)
        events = [*events, *grant_events, *book.thresholds()]
        return ReleaseOutcome(
            released=released, cancelled=cancelled, granted=granted, events=events
        )

    def _granted_now(
        self, req: AllocationRequest, plan: Plan, snap: Snapshot, now: datetime
    ) -> Outcome:
        book = self._book
        mine = next(g for g in plan.grants if g.candidate.request_id == req.request_id)
        extra: list[AllocationAlternative] = []
        if mine.partial:
            # When the full request could start, had it waited instead of taking fewer agents.
            whole = [
                replace(c, reduce_agents=False) if c is mine.candidate else c
                for c in snap.candidates
            ]
            rid = req.request_id
            start = book.starts(snap, now=now, candidates=whole, need=rid).get(rid)
            extra = [] if start is None else [build.delayed(start.at, full=True)]
        granted, events = book.commit(
            plan.grants, now=now, arrival=req, alternatives={req.request_id: extra}
        )
        own = next(r for r in granted if r.request_id == req.request_id)
        others = [r for r in granted if r.request_id != req.request_id]
        return Outcome(response=own, events=[*events, *book.thresholds()], granted=others)

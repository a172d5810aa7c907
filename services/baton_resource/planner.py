"""Which waiting requests can be granted now: fit, partial grants, files and the reservation.

One pass over the candidates in serving order (:func:`plan_grants`):

- A candidate is granted when its exclusive files are obtainable and its resources fit in
  what is free minus the reservation; in full, or with fewer agents when it accepts
  ``reduce_agents`` (:func:`shape`).
- The first candidate that cannot be granted is the *head* and holds the reservation:
  nobody after it in the pass may take its exclusive files, and, once its files are
  obtainable, nobody may take the resources it needs (per pool: only what is free beyond
  its need can go to others). Candidates that do not fit and are not the head block
  nothing, so small requests flow past big ones.

Why this bounds waiting: while a request is head, what it lacks is only ever released,
never handed out again, so it is granted within ``H``, the longest an allocation in its
way is held (its lease unless renewed; twice that when it first waits for exclusive files,
then for resources). Those ranked above it are served the same way, and once it has waited
``gap / aging_per_minute`` minutes no new arrival ranks above it (:mod:`~baton_resource.queue`),
so it waits at most ``gap / aging_per_minute + (A + 1) * H``, with ``A`` the number of
requests ranked above it at that moment.

Files: an exclusive file may be held by several allocations of the same workflow (the
protocol's files "must not be shared with another workflow"). Across workflows it is held by
one workflow only, unless every holder and the newcomer accept sharing
(:func:`accepts_sharing`), in which case the newcomer gets it as a shared file.

Partial grants scale memory, CPU and tool instances with the agent count (memory and CPU
rounded up to 0.01, tools rounded up), and keep the duration and the files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from baton.protocol.messages import AllocationRequest
from baton_resource.pools import EPSILON, Amounts, total

__all__ = [
    "Candidate",
    "Grant",
    "Holding",
    "Pass",
    "Plan",
    "accepts_sharing",
    "blocking_holdings",
    "plan_grants",
    "scaled",
    "shape",
]


def accepts_sharing(request: AllocationRequest) -> bool:
    """True when a request lets its exclusive files be shared with another workflow.

    It must accept shared resources, ask for relaxed isolation and tolerate some conflict.
    """
    return (
        request.fallback_options.accept_shared_resources
        and request.constraints.isolation_level == "relaxed"
        and request.constraints.conflict_tolerance != "none"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Holding:
    """Resources held, as the planner sees an allocation."""

    key: str
    request_id: str
    workflow_id: str
    amounts: Amounts
    files: frozenset[str]
    sharing: bool
    ends_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A request that waits to be granted, as the planner sees it."""

    request_id: str
    workflow_id: str
    need: Amounts
    files: tuple[str, ...]
    sharing: bool
    reduce_agents: bool
    duration_hours: float

    @classmethod
    def of(cls, request: AllocationRequest) -> Candidate:
        """The candidate for an allocation request."""
        return cls(
            request_id=request.request_id,
            workflow_id=request.workflow_id,
            need=Amounts.of(request.resources),
            files=tuple(dict.fromkeys(request.resources.exclusive_files)),
            sharing=accepts_sharing(request),
            reduce_agents=request.fallback_options.reduce_agents,
            duration_hours=request.resources.duration_hours,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """A candidate granted by a plan."""

    candidate: Candidate
    amounts: Amounts
    shared_files: tuple[str, ...]

    @property
    def partial(self) -> bool:
        """True when fewer agents were granted than asked for."""
        return self.amounts.agents < self.candidate.need.agents


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Result of one pass: the grants, who holds the reservation, and what is left."""

    grants: list[Grant]
    reserved_by: str | None
    left: Amounts = field(default_factory=Amounts)
    """What the pass left for candidates after its last one: free minus the reservation."""


def _ceil_hundredth(value: float) -> float:
    # The small epsilon keeps 2.5 (stored as 250.00000000000003 hundredths) at 2.5.
    return math.ceil(value * 100 - EPSILON) / 100


def scaled(need: Amounts, *, agents: int) -> Amounts:
    """``need`` reduced to ``agents`` agents, per-agent resources scaled alike."""
    if need.agents == 0 or agents >= need.agents:
        return need
    ratio = agents / need.agents
    return Amounts(
        agents=agents,
        memory_gb=min(need.memory_gb, _ceil_hundredth(need.memory_gb * ratio)),
        cpu_cores=min(need.cpu_cores, _ceil_hundredth(need.cpu_cores * ratio)),
        tool_instances={
            name: min(count, math.ceil(count * ratio - EPSILON))
            for name, count in need.tool_instances.items()
        },
    )


def shape(candidate: Candidate, *, available: Amounts) -> Amounts | None:
    """What to grant out of ``available``: the full need, the most agents that fit, or None."""
    need = candidate.need
    if need.fits(available):
        return need
    if not candidate.reduce_agents or need.agents < 2:
        return None
    low, high = 1, min(need.agents - 1, available.agents)
    if high < low or not scaled(need, agents=low).fits(available):
        return None
    # Scaled amounts grow with the agent count, so the largest fit is found by bisection.
    while low < high:
        middle = (low + high + 1) // 2
        if scaled(need, agents=middle).fits(available):
            low = middle
        else:
            high = middle - 1
    return scaled(need, agents=low)


def _file_check(
    candidate: Candidate, holders: Mapping[str, Sequence[Holding]]
) -> tuple[list[str], list[str]]:
    """Files the candidate cannot get now, and files it would get shared."""
    blocked: list[str] = []
    shared: list[str] = []
    for name in candidate.files:
        others = [h for h in holders.get(name, ()) if h.workflow_id != candidate.workflow_id]
        if not others:
            continue
        if candidate.sharing and all(h.sharing for h in others):
            shared.append(name)
        else:
            blocked.append(name)
    return blocked, shared


def _nothing(amounts: Amounts) -> bool:
    return not (
        amounts.agents
        or amounts.memory_gb
        or amounts.cpu_cores
        or any(amounts.tool_instances.values())
    )


def _holders(holdings: Sequence[Holding]) -> dict[str, list[Holding]]:
    out: dict[str, list[Holding]] = {}
    for holding in holdings:
        for name in holding.files:
            out.setdefault(name, []).append(holding)
    return out


def blocking_holdings(candidate: Candidate, *, holdings: Sequence[Holding]) -> list[Holding]:
    """The holdings whose exclusive files keep ``candidate`` waiting (a conflict)."""
    blocked, _ = _file_check(candidate, _holders(holdings))
    wanted = set(blocked)
    return [
        h
        for h in holdings
        if h.workflow_id != candidate.workflow_id and not wanted.isdisjoint(h.files)
    ]


class Pass:
    """One serving pass in progress: what is free, who holds each file, the reservation.

    :func:`plan_grants` offers it every candidate in serving order; the estimate of
    starts (:mod:`~baton_resource.estimate`) offers it only those that can still matter.

    Args:
        holdings: What is held when the pass begins.
        capacity: The pools' capacity.
    """

    __slots__ = (
        "_reserved_files",
        "available",
        "grants",
        "holders",
        "left",
        "reserve",
        "reserved_by",
        "spent",
    )

    def __init__(self, *, holdings: Sequence[Holding], capacity: Amounts) -> None:
        self.available = capacity.minus(total(h.amounts for h in holdings))
        self.holders = _holders(holdings)
        self.reserve = Amounts()
        self.reserved_by: str | None = None
        self._reserved_files: frozenset[str] = frozenset()
        self.left = self.available
        """What candidates may take now: free minus the reservation (nothing reserved yet:
        all that is free)."""
        self.grants: list[Grant] = []
        self.spent = False
        """The reservation is held and no agent is left beside it: from here on only a
        candidate that needs no agent can be granted (:func:`shape` finds no agent for
        any other, and a candidate not granted changes nothing once the head is known)."""

    def offer(self, candidate: Candidate) -> Grant | None:
        """Grant ``candidate`` if it can be granted now; else it may become the head."""
        blocked, shared = _file_check(candidate, self.holders) if candidate.files else ([], [])
        amounts = None
        if not blocked and self._reserved_files.isdisjoint(candidate.files):
            amounts = shape(candidate, available=self.left)
        if amounts is None:
            if self.reserved_by is None:
                self._hold(candidate, blocked=bool(blocked))
            return None
        grant = Grant(candidate=candidate, amounts=amounts, shared_files=tuple(shared))
        self.grants.append(grant)
        self.available = self.available.minus(amounts)
        # Taking nothing away changes no figure: with no reservation, what is left is free.
        self.left = self.available if _nothing(self.reserve) else self.available.minus(self.reserve)
        self.spent = self.reserved_by is not None and self.left.agents == 0
        if candidate.files:
            # Within the pass only its workflow, files and sharing matter, not its end.
            held = Holding(
                key=candidate.request_id,
                request_id=candidate.request_id,
                workflow_id=candidate.workflow_id,
                amounts=amounts,
                files=frozenset(candidate.files),
                sharing=candidate.sharing,
                ends_at=datetime.max,
            )
            for name in candidate.files:
                self.holders.setdefault(name, []).append(held)
        return grant

    def _hold(self, candidate: Candidate, *, blocked: bool) -> None:
        """``candidate`` becomes the head: the reservation is its files, and its resources
        once its files are obtainable."""
        self.reserved_by = candidate.request_id
        self._reserved_files = frozenset(candidate.files)
        if not blocked:
            self.reserve = candidate.need
            self.left = self.available.minus(self.reserve)
        self.spent = self.left.agents == 0

    def plan(self) -> Plan:
        """The pass's result so far."""
        return Plan(grants=self.grants, reserved_by=self.reserved_by, left=self.left)


def plan_grants(
    order: Sequence[Candidate], *, holdings: Sequence[Holding], capacity: Amounts
) -> Plan:
    """Grant what can be granted now, in ``order`` (see the module docstring for the rules)."""
    step = Pass(holdings=holdings, capacity=capacity)
    for candidate in order:
        if step.spent and candidate.need.agents:
            continue
        step.offer(candidate)
    return step.plan()

"""The serving pass and the estimate replay decide exactly as their first, plain versions did.

The planner skips what can no longer be granted in a pass and the replay keeps its queue
between steps (so that neither costs the queue's length squared); the plain versions below
offered every candidate to every pass and re-planned the whole queue at each step. They
are kept here only as the reference: on random queues and holdings (fractional amounts,
tools, files shared or not, partial grants, agentless requests, holdings past their end)
both give the same grants, head, what is left, starts and sums, to the last bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baton_resource.estimate import Start, estimate_starts
from baton_resource.leases import span
from baton_resource.planner import Candidate, Grant, Holding, Plan, plan_grants, scaled
from baton_resource.pools import Amounts, total
from tests.unit.resource.support import T0

# -- the reference: the plain versions ---------------------------------------------------


def reference_total(amounts: Iterable[Amounts]) -> Amounts:
    out = Amounts()
    for amount in amounts:
        out = out.plus(amount)
    return out


def reference_fits(need: Amounts, available: Amounts) -> bool:
    return not need.shortfalls(available)


def reference_shape(candidate: Candidate, *, available: Amounts) -> Amounts | None:
    need = candidate.need
    if reference_fits(need, available):
        return need
    if not candidate.reduce_agents or need.agents < 2:
        return None
    low, high = 1, min(need.agents - 1, available.agents)
    if high < low or not reference_fits(scaled(need, agents=low), available):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if reference_fits(scaled(need, agents=middle), available):
            low = middle
        else:
            high = middle - 1
    return scaled(need, agents=low)


def _file_check(
    candidate: Candidate, holders: Mapping[str, Sequence[Holding]]
) -> tuple[list[str], list[str]]:
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


def reference_plan(
    order: Sequence[Candidate], *, holdings: Sequence[Holding], capacity: Amounts
) -> Plan:
    available = capacity.minus(reference_total(h.amounts for h in holdings))
    holders: dict[str, list[Holding]] = {}
    for holding in holdings:
        for name in holding.files:
            holders.setdefault(name, []).append(holding)
    reserve = Amounts()
    reserved_files: frozenset[str] = frozenset()
    reserved_by: str | None = None
    grants: list[Grant] = []
    for candidate in order:
        blocked, shared = _file_check(candidate, holders)
        amounts = None
        if not blocked and reserved_files.isdisjoint(candidate.files):
            amounts = reference_shape(candidate, available=available.minus(reserve))
        if amounts is not None:
            grants.append(Grant(candidate=candidate, amounts=amounts, shared_files=tuple(shared)))
            available = available.minus(amounts)
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
                holders.setdefault(name, []).append(held)
        elif reserved_by is None:
            reserved_by = candidate.request_id
            reserved_files = frozenset(candidate.files)
            if not blocked:
                reserve = candidate.need
    return Plan(grants=grants, reserved_by=reserved_by, left=available.minus(reserve))


def reference_starts(
    *, order: Sequence[Candidate], holdings: Sequence[Holding], capacity: Amounts, now: datetime
) -> dict[str, Start]:
    running = [replace(h, ends_at=max(h.ends_at, now)) for h in holdings]
    pending = list(order)
    clock = now
    starts: dict[str, Start] = {}
    while pending:
        plan = reference_plan(pending, holdings=running, capacity=capacity)
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
        clock = max(clock, min(h.ends_at for h in running))
        running = [h for h in running if h.ends_at > clock]
    return starts


# -- random inputs -----------------------------------------------------------------------

WORKFLOWS = ["wf_a", "wf_b", "wf_c", "wf_d"]
# Fractions whose sums carry float noise (0.1 + 0.2), so that the order of additions shows.
MEMORY = [0, 0.1, 0.2, 0.3, 0.5, 1.5, 4]
CPU = [0, 0.25, 0.3, 1, 2.5]

amounts = st.builds(
    lambda agents, memory, cpu, bash, web: Amounts(
        agents=agents,
        memory_gb=memory,
        cpu_cores=cpu,
        tool_instances={k: v for k, v in {"bash": bash, "web": web}.items() if v},
    ),
    st.sampled_from([0, 0, 1, 1, 1, 2, 3, 5]),
    st.sampled_from(MEMORY),
    st.sampled_from(CPU),
    st.integers(0, 2),
    st.sampled_from([0, 0, 0, 1]),
)
files = st.lists(st.sampled_from(["a", "b", "c"]), max_size=2, unique=True)


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    found = draw(
        st.lists(
            st.tuples(
                st.sampled_from(WORKFLOWS),
                amounts,
                files,
                st.booleans(),
                st.booleans(),
                st.sampled_from([0, 0.1, 0.5, 1, 3]),
            ),
            max_size=30,
        )
    )
    return [
        Candidate(
            request_id=f"req_{i}",
            workflow_id=workflow,
            need=need,
            files=tuple(names),
            sharing=sharing,
            reduce_agents=reduce,
            duration_hours=hours,
        )
        for i, (workflow, need, names, sharing, reduce, hours) in enumerate(found)
    ]


@st.composite
def holdings(draw: st.DrawFn) -> list[Holding]:
    found = draw(
        st.lists(
            st.tuples(
                st.sampled_from(WORKFLOWS), amounts, files, st.booleans(), st.integers(-30, 400)
            ),
            max_size=8,
        )
    )
    held = [
        Holding(
            key=f"alloc_{i}",
            request_id=f"held_{i}",
            workflow_id=workflow,
            amounts=amount,
            files=frozenset(names),
            sharing=sharing,
            ends_at=T0 + timedelta(minutes=minutes),
        )
        for i, (workflow, amount, names, sharing, minutes) in enumerate(found)
    ]
    if draw(st.booleans()):
        # What a partial working set sums up: no files, no ids.
        held.append(
            Holding(
                key="",
                request_id="",
                workflow_id="",
                amounts=draw(amounts),
                files=frozenset(),
                sharing=False,
                ends_at=T0 + timedelta(minutes=draw(st.integers(0, 600))),
            )
        )
    return held


capacities = st.builds(
    lambda agents, memory, cpu, bash: Amounts(
        agents=agents, memory_gb=memory, cpu_cores=cpu, tool_instances={"bash": bash, "web": 1}
    ),
    st.integers(0, 8),
    st.sampled_from([0.6, 1, 4.5, 16]),
    st.sampled_from([0.5, 2, 8]),
    st.integers(0, 3),
)

CHECKS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@CHECKS
@given(candidates(), holdings(), capacities)
def test_a_pass_grants_and_reserves_as_the_plain_pass(
    order: list[Candidate], held: list[Holding], capacity: Amounts
) -> None:
    assert plan_grants(order, holdings=held, capacity=capacity) == reference_plan(
        order, holdings=held, capacity=capacity
    )


@CHECKS
@given(candidates(), holdings(), capacities, st.integers(0, 40))
def test_the_replay_estimates_every_start_as_the_plain_replay(
    order: list[Candidate], held: list[Holding], capacity: Amounts, pick: int
) -> None:
    now = T0 + timedelta(minutes=5)
    expected = reference_starts(order=order, holdings=held, capacity=capacity, now=now)
    assert estimate_starts(order=order, holdings=held, capacity=capacity, now=now) == expected
    if order:
        # Asked for one start only, the replay may stop early, never answer otherwise.
        need = order[pick % len(order)].request_id
        found = estimate_starts(order=order, holdings=held, capacity=capacity, now=now, need=need)
        assert found.get(need) == expected.get(need)
        assert all(expected[rid] == start for rid, start in found.items())


@CHECKS
@given(st.lists(amounts, max_size=12), amounts)
def test_sums_and_fits_are_those_of_the_plain_arithmetic(
    many: list[Amounts], available: Amounts
) -> None:
    assert total(many) == reference_total(many)
    assert list(total(many).tool_instances) == list(reference_total(many).tool_instances)
    for need in many:
        assert need.fits(available) == reference_fits(need, available)

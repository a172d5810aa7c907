"""The serving pass on its own: scaling, shapes, files and the estimate replay."""

from __future__ import annotations

from datetime import timedelta

from baton_resource.estimate import estimate_starts
from baton_resource.planner import Candidate, Holding, plan_grants, scaled, shape
from baton_resource.pools import Amounts
from tests.unit.resource.support import T0, make


def _holding(key: str, workflow: str, *, agents: int, hours: float, files: list[str]) -> Holding:
    return Holding(
        key=key,
        request_id=key,
        workflow_id=workflow,
        amounts=Amounts(agents=agents),
        files=frozenset(files),
        sharing=False,
        ends_at=T0 + timedelta(hours=hours),
    )


def test_scaling_rounds_per_agent_resources_up() -> None:
    need = Amounts(agents=3, memory_gb=10, cpu_cores=1, tool_instances={"bash": 2})
    one = scaled(need, agents=1)
    assert (one.agents, one.memory_gb, one.cpu_cores) == (1, 3.34, 0.34)
    assert one.tool_instances == {"bash": 1}
    assert scaled(need, agents=3) == need
    assert scaled(Amounts(agents=4, memory_gb=10), agents=1).memory_gb == 2.5


def test_shape_takes_the_most_agents_that_fit() -> None:
    candidate = Candidate.of(make("req_1", "wf", agents=10, memory_gb=20, reduce_agents=True))
    got = shape(candidate, available=Amounts(agents=8, memory_gb=13))
    assert got is not None
    assert (got.agents, got.memory_gb) == (6, 12)
    assert shape(candidate, available=Amounts(agents=8, memory_gb=1)) is None
    fixed = Candidate.of(make("req_2", "wf", agents=10))
    assert shape(fixed, available=Amounts(agents=8)) is None


def test_a_blocked_head_reserves_its_files_but_not_its_resources() -> None:
    holdings = [_holding("alloc_x", "wf_x", agents=1, hours=1, files=["f"])]
    head = Candidate.of(make("req_head", "wf_h", agents=3, files=["f", "g"]))
    wants_g = Candidate.of(make("req_g", "wf_g", agents=1, files=["g"]))
    plain = Candidate.of(make("req_plain", "wf_p", agents=3))
    plan = plan_grants([head, wants_g, plain], holdings=holdings, capacity=Amounts(agents=4))
    assert plan.reserved_by == "req_head"
    assert [g.candidate.request_id for g in plan.grants] == ["req_plain"]


def test_the_replay_frees_holdings_in_end_order() -> None:
    holdings = [
        _holding("alloc_a", "wf_a", agents=2, hours=3, files=[]),
        _holding("alloc_b", "wf_b", agents=2, hours=1, files=["f"]),
    ]
    order = [
        Candidate.of(make("req_1", "wf_1", agents=2, hours=1)),
        Candidate.of(make("req_2", "wf_2", agents=1, files=["f"], hours=1)),
        Candidate.of(make("req_3", "wf_3", agents=4, hours=1)),
    ]
    starts = estimate_starts(order=order, holdings=holdings, capacity=Amounts(agents=4), now=T0)
    assert {rid: s.at - T0 for rid, s in starts.items()} == {
        "req_1": timedelta(hours=1),
        "req_2": timedelta(hours=2),
        "req_3": timedelta(hours=3),
    }

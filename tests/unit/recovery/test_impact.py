"""Impact of a failed task: affected and blocked tasks, delay through the graph, risks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.errors import ProtocolError
from baton.protocol.messages.error_report import ImpactAssessment
from baton_recovery.errors import InvalidStateError, UnknownTaskError
from baton_recovery.failures.impact import assess_impact, read_graph


def task(
    status: str = "pending", deps: tuple[str, ...] = (), minutes: float = 10, **extra: Any
) -> dict[str, Any]:
    return {"status": status, "depends_on": list(deps), "expected_duration": minutes * 60, **extra}


def pipeline() -> dict[str, dict[str, Any]]:
    """research → plan → (impl_a, impl_b) → test; docs hangs off research with slack."""
    return {
        "research": task("completed", minutes=30, phase="research"),
        "plan": task("running", ("research",), 10, phase="plan", agent_id="agent_003"),
        "impl_a": task("pending", ("plan",), 20, phase="implementation"),
        "impl_b": task("pending", ("plan",), 40, phase="implementation"),
        "test": task("pending", ("impl_a", "impl_b"), 10, phase="testing"),
        "docs": task("pending", ("research",), 5, phase="docs"),
    }


def test_affected_and_blocked_tasks() -> None:
    impact = assess_impact(tasks=pipeline(), failed_task="plan")
    assert impact.affected_tasks == ("plan", "impl_a", "impl_b", "test")
    assert impact.blocked_tasks == ("impl_a", "impl_b")
    assert impact.affected_agents == ("agent_003",)
    assert impact.affected_phases == ("implementation", "plan", "testing")
    assert impact.completed_downstream == ()


def test_delay_on_the_critical_path_is_the_lost_work_plus_recovery() -> None:
    impact = assess_impact(tasks=pipeline(), failed_task="plan", recovery_seconds=120)
    # Remaining: plan 10 + impl_b 40 + test 10 = 60 min.
    assert impact.remaining == 3600
    assert impact.on_critical_path
    assert impact.estimated_delay == 600 + 120
    assert impact.to_dict()["estimated_delay"] == "12m"


def test_slack_absorbs_delay_off_the_critical_path() -> None:
    tasks = pipeline()
    tasks["plan"]["status"] = "completed"
    tasks["impl_a"]["status"] = "running"
    impact = assess_impact(tasks=tasks, failed_task="impl_a", lost_seconds=600)
    # impl_a (20m) runs beside impl_b (40m): 20m of slack, 10m lost → no delay.
    assert not impact.on_critical_path
    assert impact.estimated_delay == 0
    assert impact.blocked_tasks == ("test",)
    assert impact.workflow_risk == "medium"  # it blocks a task
    more = assess_impact(tasks=tasks, failed_task="impl_a", lost_seconds=1500)
    assert more.estimated_delay == 300  # 25m lost against 20m of slack


def test_done_dependants_are_not_affected_but_flag_data_loss() -> None:
    tasks = {
        "a": task("failed", minutes=5),
        "b": task("completed", ("a",)),
        "c": task("pending", ("b",)),
        "d": task("skipped", ("a",)),
    }
    impact = assess_impact(tasks=tasks, failed_task="a")
    assert impact.affected_tasks == ("a",)
    assert impact.blocked_tasks == ()
    assert impact.completed_downstream == ("b",)
    assert impact.data_loss_risk == "high"


@pytest.mark.parametrize(
    ("status", "risk"), [("running", "medium"), ("failed", "medium"), ("pending", "low")]
)
def test_data_loss_risk_from_work_in_progress(status: str, risk: str) -> None:
    tasks = {"a": task(status), "b": task("pending", ("a",))}
    assert assess_impact(tasks=tasks, failed_task="a").data_loss_risk == risk


def test_workflow_risk_levels() -> None:
    single = {"only": task("running", minutes=10)}
    # Redoing the only task doubles what remains.
    assert assess_impact(tasks=single, failed_task="only").workflow_risk == "critical"
    assert assess_impact(tasks=single, failed_task="only", lost_seconds=0).workflow_risk == "low"
    assert assess_impact(tasks=single, failed_task="only", lost_seconds=300).workflow_risk == "high"
    chain = {f"t{i}": task("pending", (f"t{i - 1}",) if i else (), 10) for i in range(10)}
    # t0 fails at once (nothing lost), but everything after it waits: share ≥ 1/2.
    assert assess_impact(tasks=chain, failed_task="t0", lost_seconds=0).workflow_risk == "high"
    small = assess_impact(tasks=chain, failed_task="t9", lost_seconds=60)
    assert small.workflow_risk == "medium"


def test_agents_include_the_reported_one() -> None:
    tasks = {"a": task("running", agent="a1"), "b": task("running", agent_id="a2")}
    impact = assess_impact(tasks=tasks, failed_task="a", agent="a9")
    assert impact.affected_agents == ("a1", "a9")


def test_graph_fields_have_aliases_and_defaults() -> None:
    graph = read_graph(
        {
            "x": {"dependencies": ["y", "external"], "duration": "1h 30m", "agent": "a"},
            "y": {"estimated_duration": 90},
            "z": {},
        }
    )
    assert graph["x"].depends_on == ("y", "external")
    assert graph["x"].duration == 5400
    assert graph["x"].agent == "a"
    assert graph["y"].duration == 90
    assert (graph["z"].status, graph["z"].duration, graph["z"].phase) == ("pending", 0.0, None)


def test_external_dependencies_are_ignored() -> None:
    tasks = {"a": task("running", ("outside",)), "b": task("pending", ("a",))}
    assert assess_impact(tasks=tasks, failed_task="a").affected_tasks == ("a", "b")


def test_unknown_task_bad_duration_and_cycles_are_errors() -> None:
    with pytest.raises(UnknownTaskError) as caught:
        assess_impact(tasks=pipeline(), failed_task="nope")
    assert caught.value.task_id == "nope"
    with pytest.raises(ProtocolError, match=r"tasks.a.duration"):
        assess_impact(tasks={"a": {"expected_duration": "soon"}}, failed_task="a")
    cyclic = {"a": task("pending", ("b",)), "b": task("pending", ("a",)), "c": task("pending")}
    with pytest.raises(InvalidStateError, match="cycle among a, b"):
        assess_impact(tasks=cyclic, failed_task="c")


def test_to_dict_validates_as_seed_001_impact_assessment() -> None:
    impact = assess_impact(tasks=pipeline(), failed_task="plan")
    model = ImpactAssessment.model_validate(impact.to_dict())
    assert model.affected_tasks == ["plan", "impl_a", "impl_b", "test"]
    assert model.blocking_dependencies == ["impl_a", "impl_b"]
    assert model.affected_agents == ["agent_003"]
    assert model.estimated_delay == "10m"


@st.composite
def dags(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    n = draw(st.integers(min_value=1, max_value=12))
    out: dict[str, dict[str, Any]] = {}
    for i in range(n):
        deps = (
            draw(st.lists(st.integers(min_value=0, max_value=max(0, i - 1)), max_size=3))
            if i
            else []
        )
        out[f"t{i}"] = task(
            draw(st.sampled_from(["pending", "ready", "running", "completed", "failed"])),
            tuple(f"t{d}" for d in deps),
            draw(st.integers(min_value=0, max_value=60)),
        )
    return out


@given(dags(), st.data())
def test_impact_properties(tasks: dict[str, dict[str, Any]], data: st.DataObject) -> None:
    failed = data.draw(st.sampled_from(sorted(tasks)))
    lost = data.draw(st.floats(min_value=0, max_value=7200))
    recovery = data.draw(st.floats(min_value=0, max_value=600))
    impact = assess_impact(
        tasks=tasks, failed_task=failed, lost_seconds=lost, recovery_seconds=recovery
    )
    assert impact.affected_tasks[0] == failed
    assert set(impact.blocked_tasks) <= set(impact.affected_tasks)
    for t in impact.affected_tasks[1:]:
        assert tasks[t]["status"] not in {"completed", "skipped"}
    for t in impact.blocked_tasks:
        assert failed in tasks[t]["depends_on"]
    # The workflow is never delayed by more than the time added, nor by less than zero;
    # on the critical path it is delayed by exactly that.
    assert -1e-6 <= impact.estimated_delay <= lost + recovery + 1e-6
    if impact.on_critical_path:
        assert impact.estimated_delay == pytest.approx(lost + recovery)
    # Dependency order: a task comes after the affected tasks it depends on.
    position = {t: i for i, t in enumerate(impact.affected_tasks)}
    for t in impact.affected_tasks:
        for d in tasks[t]["depends_on"]:
            if d in position:
                assert position[d] < position[t]
    ImpactAssessment.model_validate(impact.to_dict())

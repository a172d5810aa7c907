"""The system view, bottlenecks and the overview over many workflows."""

from __future__ import annotations

from datetime import datetime, timedelta

from baton.protocol.messages import PoolFigures, ResourceState
from baton_hub import workflow as wf
from baton_status.history import History
from baton_status.progress import bottlenecks
from baton_status.projection import apply_system, detail, overview
from baton_status.system import apply_resource_state
from baton_status.views import SYSTEM_LIST_LIMIT, SystemView, WorkflowView
from tests.unit.status.helpers import FEATURE_DEV, T0, Sim, event, project

NOW = T0 + timedelta(hours=1)


def _state(version: int, *, at: datetime, **used: float) -> ResourceState:
    """The resource manager's state sync: 5 agents, 16 GB, 2 bash instances."""
    capacity = {"agents": 5.0, "memory_gb": 16.0, "tool_instances.bash": 2.0}
    return ResourceState(
        state_version=version,
        timestamp=at,
        pools={
            name: PoolFigures(
                capacity=size,
                used=used.get(name, 0.0),
                free=max(0.0, size - used.get(name, 0.0)),
                utilisation=round(100 * used.get(name, 0.0) / size, 2),
            )
            for name, size in capacity.items()
        },
    )


def _system() -> SystemView:
    system = SystemView()
    assert apply_resource_state(
        system, _state(7, at=T0, agents=5, memory_gb=4, **{"tool_instances.bash": 2})
    )
    threshold = event(
        "RESOURCE_THRESHOLD",
        "global",
        {
            "resource_type": "agents",
            "current_usage": 100.0,
            "threshold": 80.0,
            "used": 5,
            "capacity": 5,
        },
    )
    apply_system(system, threshold)
    return system


def _in_implementation(workflow_id: str) -> WorkflowView:
    sim = Sim({**FEATURE_DEV, "workflow_id": workflow_id})
    sim.start("agent_001", "agent_002", "agent_003")
    sim.tick(600)
    sim.complete("research")
    sim.tick(600)
    sim.complete("plan")
    return project(sim.events)


def _queued(workflow_id: str, position: int) -> WorkflowView:
    sim = Sim(
        {
            "workflow_id": workflow_id,
            "priority": "medium",
            "phases": ["investigation", "fix", "testing"],
            "resource_requirements": {"agents": 2, "memory": "1GB", "duration": "2h"},
        }
    )
    sim.tick(300 * position)
    sim.do(wf.on_allocation, status="queued", queue_position=position, estimated_start="30m")
    return project(sim.events)


def _blocked(workflow_id: str) -> WorkflowView:
    sim = Sim(
        {
            "workflow_id": workflow_id,
            "phases": ["migrate"],
            "dependencies": ["database_migration"],
            "block_on_dependencies": True,
        }
    )
    sim.start("agent_009")
    return project(sim.events)


def _views() -> list[WorkflowView]:
    done = Sim({"workflow_id": "chore_001", "phases": ["only"]})
    done.start("agent_010")
    done.complete("only")
    return [
        _in_implementation("feature_dev_001"),
        _in_implementation("feature_dev_005"),
        _queued("bug_fix_002", 1),
        _queued("bug_fix_003", 2),
        _queued("bug_fix_004", 3),
        _blocked("migration_001"),
        _blocked("migration_002"),
        project(done.events),
    ]


def test_pools_are_the_resource_managers_newest_state() -> None:
    system = _system()
    assert (system.pools["agents"].used, system.pools["agents"].capacity) == (5, 5)
    assert system.resource_version == 7
    # Allocation events do not change the figures: the seed's example line, published by
    # hand, is no allocation of the resource manager (it counted 3 more agents before).
    seed_line = event("RESOURCE_ALLOCATED", "wf_001", {"agents": 3, "allocation_id": "alloc_456"})
    released = event("RESOURCE_DEALLOCATED", "feature_dev_005", {"allocation_id": "alloc_2"})
    for e in (seed_line, released):
        apply_system(system, e)
    assert system.pools["agents"].used == 5
    # An older state (a redelivery) is ignored; a newer one replaces the pools whole, even
    # after a gap (each state is complete).
    assert not apply_resource_state(system, _state(6, at=T0 - timedelta(seconds=1), agents=1))
    assert not apply_resource_state(system, _state(7, at=T0 + timedelta(seconds=1), agents=1))
    assert apply_resource_state(system, _state(9, at=T0 + timedelta(seconds=2), agents=3))
    assert (system.pools["agents"].used, system.pools["memory_gb"].used) == (3, 0)
    # A lower version published clearly later: the resource manager's state started afresh;
    # within the clocks' margin it is an old state handled late.
    assert not apply_resource_state(system, _state(8, at=T0 + timedelta(seconds=5), agents=1))
    assert apply_resource_state(system, _state(1, at=T0 + timedelta(minutes=1), agents=2))
    assert (system.resource_version, system.pools["agents"].used) == (1, 2)
    assert SystemView.model_validate_json(system.model_dump_json()) == system


def test_a_system_row_of_the_event_sum_era_still_loads() -> None:
    legacy = {"allocations": {"alloc_1": {"allocation_id": "alloc_1"}}, "capacities": {"a": 1}}
    assert SystemView.model_validate(legacy).pools == {}


def test_system_view_keeps_conflicts_and_alerts() -> None:
    system = _system()
    for i in range(SYSTEM_LIST_LIMIT + 5):
        conflict = {"conflict_id": f"c{i}", "conflicting_requests": [], "severity": "medium"}
        apply_system(system, event("RESOURCE_CONFLICT", "bug_fix_002", conflict))
    assert len(system.conflicts) == SYSTEM_LIST_LIMIT
    assert system.conflicts[-1]["conflict_id"] == f"c{SYSTEM_LIST_LIMIT + 4}"
    alert = event("AGENT_PERFORMANCE_ALERT", "global", {"agent_id": "agent_002"}, event_id="e1")
    apply_system(system, alert)
    apply_system(system, alert)
    assert [a.event_type for a in system.alerts] == [
        "RESOURCE_THRESHOLD",
        "AGENT_PERFORMANCE_ALERT",
    ]
    assert SystemView.model_validate_json(system.model_dump_json()) == system


def test_bottlenecks_name_what_holds_most_workflows_back() -> None:
    found = bottlenecks(_views(), _system(), now=NOW)
    top = found[0]
    assert (top.kind, top.name) == ("resource", "agents")
    assert top.workflows == ["bug_fix_002", "bug_fix_003", "bug_fix_004"]
    assert "needs 2, 0 of 5 free" in top.detail
    by_name = {(b.kind, b.name): b for b in found}
    assert by_name[("dependency", "database_migration")].workflows == [
        "migration_001",
        "migration_002",
    ]
    assert by_name[("phase", "implementation")].workflows == ["feature_dev_001", "feature_dev_005"]
    # A lone workflow in its planned time is no phase bottleneck.
    assert all(b.kind != "phase" or len(b.workflows) > 1 for b in found)


def test_an_agent_that_holds_tasks_others_wait_for() -> None:
    sim = Sim({"workflow_id": "par_001", "tasks": [{"task_id": f"t{i}"} for i in range(3)]})
    sim.start("solo")
    view = project(sim.events)
    assert view.tasks["t1"].status == "pending"  # ready, but the one agent is busy
    shown = detail(view, history=History(), now=T0, include_dependencies=False, detailed=True)
    assert [t.status for t in shown.tasks] == ["assigned", "ready", "ready"]
    found = bottlenecks([view], SystemView(), now=T0 + timedelta(minutes=10))
    assert [(b.kind, b.name) for b in found] == [("agent", "solo")]
    assert "holds t0 of par_001 while 2 ready task(s) wait" in found[0].detail
    assert "10m" in found[0].detail


def test_overview_counts_and_orders() -> None:
    views = _views()
    result = overview(views, _system(), history=History(), now=NOW)
    assert result.counts == {"COMPLETED": 1, "QUEUED": 3, "SCHEDULED": 2, "STARTED": 2}
    assert [s.workflow_id for s in result.active] == [
        "feature_dev_001",
        "feature_dev_005",
        "migration_001",
        "migration_002",
    ]
    assert [(q.workflow_id, q.position) for q in result.queue] == [
        ("bug_fix_002", 1),
        ("bug_fix_003", 2),
        ("bug_fix_004", 3),
    ]
    agents = result.resources["agents"]
    assert (agents.capacity, agents.used, agents.utilisation) == (5, 5, 100.0)
    assert (result.resources["memory_gb"].capacity, result.resources["memory_gb"].used) == (16, 4)
    assert list(result.resources) == ["agents", "memory_gb", "tool_instances.bash"]
    assert result.bottlenecks[0].name == "agents"
    assert result.alerts[0].event_type == "RESOURCE_THRESHOLD"
    assert result.at == "2025-01-15T13:00:00Z"
    assert result.active[0].estimate.remaining_s is not None

"""The status read model says what the hub says: status, phases done, progress (issue 16.2).

Random lifecycles — create, queue, start, pause, resume, agents' reports (some stale),
retries, reassignment, recovery decisions, failure, checkpoint restore, cancel, completion —
go through the hub's own state machine, and every event it (or an agent) publishes through
the status projection, in topic order. After every step both sides must agree.
"""

from __future__ import annotations

from typing import Any, Final

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from baton_hub import workflow as wf
from baton_hub.recovery import RecoveryAction
from tests.unit.status.lifecycle import Lifecycle

AGENTS: Final = ("agent_1", "agent_2", "agent_3")
ACTIONS: Final[tuple[RecoveryAction, ...]] = ("retry", "reassign", "skip", "fail")
STEPS: Final = (
    "queue",
    "approve",
    "deny",
    "task_started",
    "task_completed",
    "task_failed",
    "stale_report",
    "pause",
    "resume",
    "cancel",
    "recover",
    "restore",
    "remove_agent",
    "assign_agent",
    "timeouts",
    "start_phase",
)
WEIGHTED: Final = (*STEPS, *("task_started", "task_completed") * 4, "task_failed", "restore")
"""Steps to draw from: agents' reports more often, so that many runs reach their end."""
RULES: Final[dict[str, list[dict[str, Any]]]] = {
    "none": [],
    "retry": [
        {
            "rule_id": "retry_errors",
            "condition_key": "failure_type",
            "condition_operator": "in",
            "condition_value": ["error", "execution_timeout"],
            "decision": "retry",
            "max_attempts": 3,
        }
    ],
    "skip": [
        {
            "rule_id": "skip_second",
            "condition_key": "error_count",
            "condition_operator": ">=",
            "condition_value": 2,
            "decision": "skip",
            "priority": 1,
        },
        {
            "rule_id": "retry_first",
            "condition_key": "error_count",
            "condition_operator": "<",
            "condition_value": 2,
            "decision": "retry",
        },
    ],
    "escalate": [
        {
            "rule_id": "ask_someone",
            "condition_key": "failure_type",
            "condition_operator": "==",
            "condition_value": "error",
            "decision": "escalate",
        }
    ],
}


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    """1-3 phases of 1-3 tasks, with dependencies inside a phase, some with a timeout."""
    phases = [f"p{i}" for i in range(draw(st.integers(1, 3)))]
    tasks: list[dict[str, Any]] = []
    for phase in phases:
        ids: list[str] = []
        for number in range(draw(st.integers(1, 3))):
            task_id = f"{phase}_t{number}"
            task: dict[str, Any] = {"task_id": task_id, "phase": phase}
            deps = draw(st.lists(st.sampled_from(ids), unique=True)) if ids else []
            if deps:
                task["dependencies"] = deps
            if draw(st.booleans()):
                task["execution_timeout"] = "1h"
            tasks.append(task)
            ids.append(task_id)
    return {
        "workflow_id": "wf_prop_001",
        "phases": phases,
        "tasks": tasks,
        "rules": RULES[draw(st.sampled_from(sorted(RULES)))],
        "resource_requirements": {"duration": "3h"},
    }


def _step(run: Lifecycle, step: str, k: int) -> None:
    """Apply one step (a step the workflow does not allow now changes nothing)."""
    state = run.state
    in_flight = [t for t in state.tasks.values() if t.in_flight]
    if step == "queue":
        run.hub(wf.on_allocation, status="queued", queue_position=k % 4, estimated_start="5m")
    elif step == "approve":
        agents = list(AGENTS[: 1 + k % len(AGENTS)])
        run.hub(wf.on_allocation, status="approved", allocation_id="alloc_1", agents=agents)
    elif step == "deny":
        run.hub(wf.on_allocation, status="denied", reason="no agents")
    elif step in ("task_started", "task_completed", "task_failed") and in_flight:
        task = in_flight[k % len(in_flight)]
        if step == "task_started":
            run.holder_report("TASK_STARTED", task, start_time="now")
        elif step == "task_completed":
            score = [None, 0.9, 0.5][k % 3]
            extra: dict[str, Any] = {"duration": 10.0, "results": {"ok": True}}
            if score is not None:
                extra["quality_score"] = score
            run.holder_report("TASK_COMPLETED", task, **extra)
        else:
            run.holder_report(
                "TASK_FAILED", task, failure_reason="tool crashed", retry_count=task.attempts
            )
    elif step == "stale_report":
        # An agent that held a task once reports late with the token it had.
        held = [t for t in state.tasks.values() if t.previous_agent or t.fencing_token]
        if held:
            task = held[k % len(held)]
            agent = task.previous_agent or AGENTS[k % len(AGENTS)]
            kind = ("TASK_COMPLETED", "TASK_FAILED", "TASK_STARTED")[k % 3]
            extra = {"failure_reason": "late"} if kind == "TASK_FAILED" else {}
            token = max(0, task.fencing_token - 1)
            run.report(kind, task.task_id, agent_id=agent, fencing_token=token, **extra)
    elif step == "pause":
        run.hub(wf.pause, reason="operator")
    elif step == "resume":
        run.hub(wf.resume)
    elif step == "cancel":
        run.hub(wf.cancel, reason="operator")
    elif step == "recover":
        failed = [t for t in state.tasks.values() if t.status == "failed"]
        if failed:
            task = failed[k % len(failed)]
            avoid = [task.agent_id] if task.agent_id else []
            run.recover(task.task_id, ACTIONS[k % len(ACTIONS)], avoid=avoid)
    elif step == "restore":
        run.restore(run.checkpoints[k % len(run.checkpoints)])
    elif step == "remove_agent" and state.agents():
        agents = state.agents()
        run.hub(wf.remove_agent, agent_id=agents[k % len(agents)], reason="agent timeout")
    elif step == "assign_agent":
        agent = f"agent_{4 + k % 2}"
        run.hub(wf.assign_agents, assignments=[{"agent_id": agent, "role": "p0"}])
    elif step == "timeouts":
        run.tick(2 * 3600)
        run.hub(wf.check_timeouts)
    elif step == "start_phase":
        run.hub(wf.start_phase, phase=1 + k % len(state.phases))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    definition=definitions(),
    delegate=st.booleans(),
    first=st.sampled_from(["approve", "approve", "queue", "none"]),
    steps=st.lists(
        st.tuples(st.sampled_from(WEIGHTED), st.integers(0, 11)), min_size=10, max_size=60
    ),
)
def test_status_view_agrees_with_the_hub_over_random_lifecycles(
    definition: dict[str, Any], delegate: bool, first: str, steps: list[tuple[str, int]]
) -> None:
    run = Lifecycle(definition, delegate_failures=delegate)
    if first != "none":
        steps = [(first, 2), *steps]
    for number, (step, k) in enumerate(steps):
        run.tick()
        before = run.state.status
        _step(run, step, k)
        if step == "restore" and before != run.state.status:
            event(f"restored a {before} workflow")
        hub, status = run.figures()
        where = f"after step {number} {step}({k}); events: {[e.event_type for e in run.log]}"
        assert status.status == hub.status, where
        assert status.phases_done == hub.phases_done, where
        assert status.phase_statuses == hub.phase_statuses, where
        assert status.done_tasks == hub.done_tasks, where
        assert abs(status.progress - hub.progress) <= 0.1, where
    event(f"ended {run.state.status}")


def test_the_demo_restore_sequence_ends_completed_in_both() -> None:
    """README's demo, scenario 3: the migration fails until recovery gives up, the
    checkpoint taken after the analysis phase is restored, and the run completes."""
    run = Lifecycle(
        {
            "workflow_id": "microservices_migration_001_r1",
            "workflow_type": "microservices_migration",
            "priority": "high",
            "phases": ["analysis", "database_migration", "service_cutover"],
            "resource_requirements": {"agents": 2, "memory": "1GB", "duration": "3h"},
        },
        delegate_failures=True,  # BATON_HUB_FAILURE_POLICY=recovery, as the stack runs it
    )
    run.hub(wf.on_allocation, status="approved", allocation_id="alloc_m", agents=AGENTS[:2])
    for step in ("TASK_STARTED", "TASK_COMPLETED"):
        run.tick()
        run.holder_report(step, run.state.tasks["analysis"], duration=1.0, results={})
    analysed = run.state  # the phase_complete checkpoint
    assert analysed.phases[0].status == "completed"
    for attempt in range(3):  # recovery retries with backoff, then gives up
        migration = run.state.tasks["database_migration"]
        run.tick()
        run.holder_report("TASK_STARTED", migration)
        run.tick()
        run.holder_report(
            "TASK_FAILED",
            run.state.tasks["database_migration"],
            failure_reason="TaskBroke: connection_timeout",
            retry_count=attempt,
        )
        action: RecoveryAction = "retry" if attempt < 2 else "fail"
        assert run.recover("database_migration", action, avoid=[])
    assert run.state.status == "FAILED"
    assert run.view is not None
    assert run.view.status == "FAILED"
    assert run.restore(analysed)
    for task_id in ("database_migration", "service_cutover"):
        for step in ("TASK_STARTED", "TASK_COMPLETED"):
            run.tick()
            run.holder_report(step, run.state.tasks[task_id], duration=1.0, results={})
    hub, status = run.figures()
    assert hub.status == "COMPLETED"
    assert hub.phases_done == 3
    assert status == hub
    assert status.progress == 100.0
    types = [e.event_type for e in run.log]
    assert types.index("WORKFLOW_FAILED") < types.index("WORKFLOW_RESTORED")
    assert types[-1] == "WORKFLOW_COMPLETED"

"""Signals between agents and the versioned shared context."""

from __future__ import annotations

import pytest

from baton_hub.errors import InvalidTransition
from baton_hub.workflow import (
    assign_agents,
    cancel,
    context_for,
    signal,
    signals,
    update_context,
)
from tests.unit.hub.helpers import Run, of_type, types


def test_signals_are_recorded_published_and_queried() -> None:
    run = Run({"workflow_id": "w"})
    run.start("model_gen", "validator_gen")
    events = run.do(
        signal,
        sender="model_gen",
        recipients=["validator_gen"],
        signal_type="agent_completed",
        payload={"quality_score": 0.95},
    )
    assert types(events) == ["AGENT_SIGNAL"]
    assert events[0].data["signal_id"] == "sig_1"
    assert events[0].data["recipients"] == ["validator_gen"]
    assert events[0].data["broadcast"] is False
    run.do(signal, sender="validator_gen", signal_type="agent_initialized", payload={})
    run.do(signal, sender="hub", recipients=["other"], signal_type="agent_initialized")
    state = run.state
    assert [s.signal_id for s in signals(state)] == ["sig_1", "sig_2", "sig_3"]
    assert [s.signal_id for s in signals(state, signal_type="agent_initialized")] == [
        "sig_2",
        "sig_3",
    ]
    # An agent sees what it sent, what was sent to it, and broadcasts.
    assert [s.signal_id for s in signals(state, agent_id="validator_gen")] == ["sig_1", "sig_2"]
    assert [s.signal_id for s in signals(state, agent_id="model_gen")] == ["sig_1", "sig_2"]
    assert [s.signal_id for s in signals(state, limit=1)] == ["sig_3"]
    assert signals(state, limit=0) == []


def test_signal_history_is_bounded_and_ids_keep_counting() -> None:
    run = Run({"workflow_id": "w", "signal_history_limit": 3})
    for i in range(5):
        run.do(signal, sender="a", signal_type="tick", payload={"i": i})
    assert [s.signal_id for s in run.state.signals] == ["sig_3", "sig_4", "sig_5"]
    assert run.state.signal_count == 5


def test_signals_refused_after_the_end() -> None:
    run = Run({"workflow_id": "w"})
    run.do(cancel, reason="stop")
    with pytest.raises(InvalidTransition, match="cannot signal"):
        run.do(signal, sender="a", signal_type="x")


def test_context_versions_grow_and_updates_merge() -> None:
    run = Run({"workflow_id": "w"})
    run.start("a1", "a2")
    events = run.do(update_context, updates={"type_registry": {"UserModel": "class UserModel"}})
    assert types(events) == ["CONTEXT_UPDATED", "CONTEXT_UPDATED"]
    assert [e.data["target"] for e in events] == ["a1", "a2"]
    assert {e.data["version"] for e in events} == {1}
    events = run.do(update_context, updates={"type_registry": {"PostModel": "class PostModel"}})
    assert events[0].data["version"] == 2
    assert events[0].data["context"] == {
        "type_registry": {"UserModel": "class UserModel", "PostModel": "class PostModel"}
    }
    run.do(update_context, updates={"type_registry": {"UserModel": None}})
    assert context_for(run.state, target="a1") == {
        "type_registry": {"PostModel": "class PostModel"}
    }
    assert run.state.context.version == 3


def test_targeted_context_reaches_only_its_targets() -> None:
    run = Run({"workflow_id": "w", "tasks": [{"task_id": "t", "role": "validator"}]})
    run.do(assign_agents, assignments=[{"agent_id": "v1", "role": "validator"}])
    run.do(update_context, updates={"style": "pep8"})
    events = run.do(update_context, updates={"schema": "v2"}, targets=["validator"])
    assert [(e.data["target"], e.data["version"]) for e in events] == [("validator", 2)]
    run.do(update_context, updates={"schema": "v3-for-v1"}, targets=["v1"])
    # Most specific wins: global < role < agent.
    assert context_for(run.state, target="v1") == {"style": "pep8", "schema": "v3-for-v1"}
    assert context_for(run.state, target="validator") == {"style": "pep8", "schema": "v2"}
    assert context_for(run.state, target="writer") == {"style": "pep8"}
    assert run.state.context.scoped_versions == {"validator": 2, "v1": 3}
    # Assignments carry the agent's context and its version.
    events = run.start("v1")
    (assignment,) = of_type(events, "TASK_ASSIGNED")
    assert assignment.data["context_version"] == 3
    assert assignment.data["context"]["schema"] == "v3-for-v1"


def test_global_update_without_agents_is_one_broadcast() -> None:
    run = Run({"workflow_id": "w"})
    events = run.do(update_context, updates={"k": 1})
    assert [(e.data["target"], e.data["context"]) for e in events] == [("*", {"k": 1})]

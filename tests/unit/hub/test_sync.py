"""State round trip, the seed 001 state message, and version conflict detection."""

from __future__ import annotations

import pytest

from baton.protocol.messages import WorkflowStateMessage
from baton_hub.state import WorkflowState
from baton_hub.sync import detect_conflict
from baton_hub.workflow import signal, state_sync, update_context
from tests.unit.hub.helpers import Run
from tests.unit.hub.test_patterns import MIXED


def busy_run() -> Run:
    run = Run(
        {
            **MIXED,
            "rules": [
                {
                    "rule_id": "r",
                    "condition_key": "error_count",
                    "condition_operator": "<=",
                    "condition_value": 3,
                    "decision": "retry",
                }
            ],
        }
    )
    run.start("agent_1", "agent_2", "agent_3")
    run.tick(minutes=10)
    run.complete("parser_0", score=0.9)
    run.fail("parser_1")
    run.do(signal, sender="agent_1", signal_type="agent_completed", payload={"ok": True})
    run.do(update_context, updates={"schema": {"v": 1}}, targets=["agent_2"])
    return run


def test_state_round_trips_through_json() -> None:
    state = busy_run().state
    data = state.model_dump(mode="json")
    again = WorkflowState.model_validate(data)
    assert again == state
    assert again.model_dump(mode="json") == data


def test_state_sync_is_a_valid_seed_001_message() -> None:
    run = busy_run()
    message = state_sync(run.state)
    WorkflowStateMessage.model_validate(message)
    body = message["workflow_state"]
    assert body["message_type"] == "state_sync"
    assert body["workflow_id"] == "codegen_001"
    assert body["state_version"] == run.state.state_version
    assert body["timestamp"] == "2025-01-15T12:10:00Z"
    phase = body["current_phase"]
    assert (phase["phase_id"], phase["name"], phase["progress"]) == (1, "generation", 25.0)
    assert phase["started_at"] == "2025-01-15T12:00:00Z"
    # parser_1 failed on agent_2 and was retried on agent_1, the other free agent.
    assert body["agent_states"]["agent_2"]["status"] == "idle"
    assert body["agent_states"]["agent_1"]["current_task"] == "parser_1"
    assert body["agent_states"]["agent_3"]["current_task"] == "parser_2"
    assert body["metadata"]["last_update_source"] == "coordination-hub"
    assert body["metadata"]["task_statuses"]["parser_0"] == "completed"
    assert body["resource_usage"]["memory_current"] == 0
    # The same state renders the same message.
    assert state_sync(run.state) == message


@pytest.mark.parametrize(
    ("current", "incoming", "kind"),
    [(4, 5, "ok"), (0, 1, "ok"), (5, 5, "stale"), (5, 3, "stale"), (5, 7, "gap")],
)
def test_detect_conflict(current: int, incoming: int, kind: str) -> None:
    assert detect_conflict(current_version=current, incoming_version=incoming) == kind

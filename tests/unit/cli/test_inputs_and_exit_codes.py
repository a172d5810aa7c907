"""JSON input (stdin, seed 000's envelope), allocation forms, event kinds, exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from baton.cli.app import app
from baton.cli.common import EXIT
from baton.cli.jsonin import parse_json
from baton.cli.resource_input import normalise_allocation
from baton.cli.subscribe import categories, parse_kinds
from baton.errors import ProtocolError

pytestmark = pytest.mark.timeout(60)


def test_envelope_is_unwrapped_and_its_request_id_kept() -> None:
    envelope = {
        "operation": "allocate",
        "data": {"workflow_id": "wf_1"},
        "metadata": {},
        "timestamp": "2025-01-01T00:00:00Z",
        "request_id": "req_abc",
    }
    got = parse_json(json.dumps(envelope), what="x")
    assert got.value == {"workflow_id": "wf_1"}
    assert got.request_id == "req_abc"
    assert got.operation == "allocate"
    plain = parse_json('{"operation": "x", "data": 1, "other": 2}', what="x")
    assert plain.request_id is None
    assert plain.value["other"] == 2


def test_bad_json_names_the_argument_and_position() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_json("{oops", what="definition")
    assert caught.value.part == "definition"
    assert caught.value.position == 1


def test_seed_allocation_forms() -> None:
    request, ignored = normalise_allocation(
        {
            "workflow_id": "wf_1",
            "requirements": {"agents": 3, "memory": "2GB", "duration": "4h"},
            "priority": "high",
            "estimated_duration": "90m",
        }
    )
    assert request["resources"] == {"agents": 3, "memory_gb": 2.0, "duration_hours": 1.5}
    assert ignored == {}
    request, ignored = normalise_allocation(
        {
            "workflow_id": "complex_feature_001",
            "workflow_type": "feature_development",
            "time_constraints": {"deadline": "2d", "priority": "high"},
        }
    )
    assert request["priority"] == "high"
    assert set(ignored) == {"workflow_type", "time_constraints.deadline"}
    with pytest.raises(ProtocolError):
        normalise_allocation({"requirements": {}})


def test_event_kinds_survive_the_shell_split() -> None:
    # bash turns --events=["state_change", "checkpoint", "error"] into three words.
    assert parse_kinds(["[state_change,", "checkpoint,", "error]"]) == {
        "state_change",
        "checkpoint",
        "error",
    }
    assert parse_kinds(['["error"]']) == {"error"}
    with pytest.raises(ProtocolError):
        parse_kinds(["[weather]"])
    assert "error" in categories("TASK_FAILED")
    assert "checkpoint" in categories("CHECKPOINT_CREATED")
    assert "state_change" in categories("PHASE_STARTED")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["no-such-helper"], EXIT.UNKNOWN_HELPER),
        (["resource-manager", "teleport"], EXIT.UNKNOWN_HELPER),
        (["progress-aggregator", "configure", "{}"], EXIT.UNKNOWN_HELPER),
        (["coordination-hub", "wf_1", "enable-caching", "{}"], EXIT.UNKNOWN_HELPER),
        (["coordination-hub", "create-workflow", "{not json"], EXIT.BAD_INPUT),
        (["coordination-hub", "wf_1", "start-phase"], EXIT.BAD_INPUT),
        (["resource-manager", "allocate", '{"no_workflow": 1}'], EXIT.BAD_INPUT),
        (["resource-manager", "handle-failure", "wf", '{"reallocation_strategy": "x"}'], 2),
        (["progress-aggregator", "track-workflows", '{"not": "a list"}'], EXIT.BAD_INPUT),
        (["progress-aggregator", "system-report", '{"include": ["weather"]}'], 2),
        (["workflow-status", "wf", "--subscribe", "--events=[weather]"], EXIT.BAD_INPUT),
        (["coordination-hub", "publish-event", '{"event_type": "bad type"}'], 2),
        (["resource-manager", "allocate", "--bogus-option"], EXIT.BAD_INPUT),
    ],
)
def test_exit_codes_without_services(args: list[str], code: int) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.output


def test_unknown_helper_says_what_is_known() -> None:
    result = CliRunner().invoke(app, ["resource-manager", "teleport"])
    error = json.loads(result.output.strip().splitlines()[-1])
    assert error["error"] == "UnknownHelper"
    assert "allocate" in error["message"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["resource-manager", "allocate", "[1,2,3]"], "allocation_request"),
        (["resource-manager", "allocate", '{"priority": 1}'], "allocation_request.workflow_id"),
        (
            ["resource-manager", "allocate", '{"workflow_id": "w", "priority": "urgent"}'],
            "allocation_request.priority",
        ),
        (
            ["coordination-hub", "create-workflow", '{"workflow_id": "w", "priority": "urgent"}'],
            "definition.priority",
        ),
        (["coordination-hub", "create-workflow", "w", "--priority=urgent"], "definition.priority"),
        (["coordination-hub", "create-workflow", "[1]"], "definition"),
        (["workflow-recovery", "restore", "wf", "{}"], "data.checkpoint_id"),
        (["workflow-recovery", "restore", "wf", '{"checkpoint_id": ""}'], "data.checkpoint_id"),
        (["resource-manager", "status", "--after", "soon"], "data.after"),
        (["resource-manager", "transition", "wf_a", ""], "data.to_workflow_id"),
    ],
)
def test_bad_input_the_cli_can_see_exits_2_naming_the_field_before_asking(
    args: list[str], field: str
) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT.BAD_INPUT, result.output
    error = json.loads(result.output.strip().splitlines()[-1])
    assert error["retriable"] is False
    assert error.get("field", error.get("part")) == field, error
    assert "pydantic.dev" not in result.output

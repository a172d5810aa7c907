"""Protocol messages of seed 001: the seed's examples validate, minimal messages too."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from baton.errors import ProtocolError
from baton.protocol.messages import (
    MESSAGE_MODELS,
    AllocationRequest,
    AllocationRequestMessage,
    AllocationResponse,
    CheckpointSync,
    ComponentConfig,
    ComponentRegistration,
    ErrorReport,
    HealthStatus,
    WorkflowState,
    WorkflowStateMessage,
    message_name,
    parse_message,
    validate_model,
)

FIXTURE = Path(__file__).parents[2] / "fixtures" / "seed001_messages.json"
SEED: dict[str, dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))


def _instantiate(value: Any) -> Any:
    """The seed writes ids as ``req_<uuid>``; give them a real uuid."""
    if isinstance(value, dict):
        return {k: _instantiate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_instantiate(v) for v in value]
    if isinstance(value, str) and "<uuid>" in value:
        return value.replace("<uuid>", str(uuid.UUID(int=7)))
    return value


def _alternatives(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every ``a|b|c`` choice the seed lists, as (path, one choice)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _alternatives(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _alternatives(item, (*path, index))
    elif isinstance(value, str) and "|" in value:
        for choice in value.split("|"):
            yield path, choice


def _first_choices(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _first_choices(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_first_choices(v) for v in value]
    if isinstance(value, str) and "|" in value:
        return value.split("|")[0]
    return value


def _set(document: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        document = document[key]
    document[path[-1]] = value


def test_fixture_covers_every_message() -> None:
    assert set(SEED) == set(MESSAGE_MODELS)
    for name, example in SEED.items():
        assert list(example) == [name]


@pytest.mark.parametrize("name", list(MESSAGE_MODELS))
def test_seed_examples_validate_with_every_listed_choice(name: str) -> None:
    model = MESSAGE_MODELS[name]
    base = _first_choices(_instantiate(SEED[name]))
    message = model.model_validate(base)
    dumped = message.model_dump(mode="json", exclude_unset=True)
    assert dumped == base
    for path, choice in _alternatives(SEED[name]):
        variant = copy.deepcopy(base)
        _set(variant, path, choice)
        model.model_validate(variant)


@pytest.mark.parametrize("name", list(MESSAGE_MODELS))
def test_parse_message_picks_the_model_by_key(name: str) -> None:
    message = parse_message(_first_choices(_instantiate(SEED[name])))
    assert type(message) is MESSAGE_MODELS[name]
    assert message_name(message.model_dump(mode="json")) == name


@pytest.mark.parametrize(
    "model",
    [
        lambda: AllocationRequest(workflow_id="wf_1"),
        lambda: AllocationResponse(request_id="req_1", status="queued"),
        lambda: WorkflowState(workflow_id="wf_1"),
        lambda: CheckpointSync(workflow_id="wf_1"),
        lambda: ErrorReport.model_validate(
            {"classification": {"category": "execution", "type": "timeout"},
             "details": {"error_message": "boom"}}
        ),
        lambda: ComponentRegistration(component_id="resource-manager"),
        lambda: HealthStatus(component_id="hub"),
        lambda: ComponentConfig(component_id="hub"),
    ],
)  # fmt: skip
def test_minimal_messages_validate_and_round_trip(model: Any) -> None:
    message: BaseModel = model()
    again = type(message).model_validate_json(message.model_dump_json())
    assert again == message


def test_generated_ids_and_timestamps() -> None:
    first = AllocationRequest(workflow_id="wf")
    second = AllocationRequest(workflow_id="wf")
    assert first.request_id.startswith("req_")
    assert first.request_id != second.request_id
    assert first.timestamp.tzinfo is UTC
    assert CheckpointSync(workflow_id="wf").checkpoint_id.startswith("ckpt_")
    assert AllocationResponse(request_id="r", status="approved").response_id.startswith("resp_")


def test_timestamps_are_normalised_to_utc() -> None:
    naive = WorkflowState.model_validate({"workflow_id": "w", "timestamp": "2025-01-15T12:00:00"})
    shifted = WorkflowState.model_validate(
        {"workflow_id": "w", "timestamp": "2025-01-15T14:00:00+02:00"}
    )
    assert naive.timestamp == shifted.timestamp == datetime(2025, 1, 15, 12, tzinfo=UTC)
    assert naive.model_dump(mode="json")["timestamp"] == "2025-01-15T12:00:00Z"


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"workflow_id": "wf", "priority": "urgent"}, "priority"),
        ({"workflow_id": "wf", "surprise": 1}, "surprise"),
        ({"workflow_id": "wf:1"}, "workflow_id"),
        ({"workflow_id": "wf", "constraints": {"max_wait_time": "ten minutes"}}, "constraints"),
        ({"workflow_id": "wf", "resources": {"agents": -1}}, "resources"),
        ({}, "workflow_id"),
    ],
)
def test_invalid_requests_are_refused(data: dict[str, Any], loc: str) -> None:
    with pytest.raises(ValidationError) as info:
        AllocationRequest.model_validate(data)
    assert info.value.errors()[0]["loc"][0] == loc


def test_validate_model_raises_protocol_errors_with_the_path() -> None:
    with pytest.raises(ProtocolError) as info:
        validate_model(
            AllocationRequestMessage,
            {"allocation_request": {"workflow_id": "wf", "resources": {"agents": "many"}}},
        )
    assert info.value.part == "data.allocation_request.resources.agents"
    with pytest.raises(ProtocolError) as info:
        validate_model(WorkflowStateMessage, {"workflow_state": {"workflow_id": "w",
                       "agent_states": {"a1": {"progress": 101}}}})  # fmt: skip
    assert info.value.part == "data.workflow_state.agent_states.a1.progress"


@pytest.mark.parametrize("data", [{}, {"nope": {}}, {"allocation_request": {}, "x": 1}])
def test_parse_message_refuses_unknown_envelopes(data: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_message(data)
    assert info.value.part == "data"


def test_registration_patterns_are_checked() -> None:
    ComponentRegistration(component_id="c", event_subscriptions=["workflow.#", "a.*.b"])
    with pytest.raises(ValidationError):
        ComponentRegistration(component_id="c", event_subscriptions=["workflow..x"])


def test_open_objects_keep_extras() -> None:
    state = WorkflowState.model_validate(
        {"workflow_id": "w", "metadata": {"conflict_detected": True, "resolver": "hub"}}
    )
    assert state.metadata.model_dump()["resolver"] == "hub"

"""Each command's request data has a model; a wrong request is refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from baton.bus.rpc import answer
from baton.protocol.commands import (
    COMMANDS,
    REQUESTS,
    HubCommand,
    RecoveryCommand,
    ResourceCommand,
    request_data,
    validate_request,
)
from baton.protocol.commands.requests import RecoverTaskRequest, RestoreRequest
from baton.protocol.event import Event
from baton.protocol.headers import H, get_header


def test_every_command_has_a_request_model() -> None:
    commands = {c for kind in COMMANDS.values() for c in kind}
    assert set(REQUESTS) == commands


def test_a_missing_field_is_refused_by_name() -> None:
    with pytest.raises(Exception, match="phase") as caught:
        validate_request(event_type=HubCommand.START_PHASE, data={})
    assert type(caught.value).__name__ == "ValidationError"


def test_a_wrong_value_is_refused_and_extra_fields_are_kept() -> None:
    with pytest.raises(Exception, match="action"):
        validate_request(
            event_type=HubCommand.RECOVER_TASK, data={"task_id": "t1", "action": "pray"}
        )
    kept = validate_request(event_type=ResourceCommand.ALLOCATE, data={"resources": {}})
    assert kept is not None
    assert kept.model_extra == {"resources": {}}
    assert validate_request(event_type="NOT_A_COMMAND", data={"x": 1}) is None


def test_request_data_is_what_was_set() -> None:
    recover = RecoverTaskRequest(task_id="t1", action="retry")
    assert request_data(recover) == {"task_id": "t1", "action": "retry"}
    assert request_data(RestoreRequest(checkpoint_id="c1")) == {"checkpoint_id": "c1"}


async def test_the_responder_refuses_a_bad_request_before_its_handler() -> None:
    called: list[Event] = []

    async def responder(request: Event) -> dict[str, Any]:
        called.append(request)
        return {"ok": True}

    request = Event(
        event_type=RecoveryCommand.RESTORE,
        workflow_id="wf_1",
        phase="cli",
        data={"checkpoint_id": ""},
        request_id="req_1",
    )
    reply = await answer(request, responder)
    assert not called
    assert get_header(list(reply.extra_headers), H.STATUS) == "error"
    assert reply.data["error"] == "BadInputError"
    assert reply.data["retriable"] is False
    assert "data.checkpoint_id" in reply.data["message"]

"""Validation failures as bad input: fields named, allowed values said, never retried."""

from __future__ import annotations

import logging
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from baton.bus.rpc import answer
from baton.errors import BadInputError, RemoteError
from baton.protocol.event import Event
from baton.protocol.headers import H
from baton.protocol.invalid import bad_input, field_error


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    size: int = 1


class Whole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Literal["low", "high"] = "low"
    parts: list[Part] = []

    @model_validator(mode="after")
    def _distinct(self) -> Whole:
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise field_error(f"parts[{len(names) - 1}].name", "a name is used twice")
        return self


def refused(data: Any) -> BadInputError:
    with pytest.raises(ValidationError) as caught:
        Whole.model_validate(data)
    return bad_input(caught.value, root="thing", model=Whole)


def test_every_wrong_field_is_named_with_what_it_accepts() -> None:
    error = refused({"level": "urgent", "parts": [{"name": "a", "sise": 2}], "colour": 1})
    assert not error.retriable
    assert error.exit_code == 2
    problems = {p["field"]: p["message"] for p in error.problems}
    assert problems == {
        "thing.level": "Input should be 'low' or 'high', not 'urgent'",
        "thing.parts[0].sise": "unknown field; allowed: name, size",
        "thing.colour": "unknown field; allowed: level, parts",
    }
    assert error.field == "thing.level"
    assert "pydantic.dev" not in str(error.to_reply())


def test_a_model_validator_names_the_field_it_refuses() -> None:
    error = refused({"parts": [{"name": "a"}, {"name": "a"}]})
    assert error.problems == [
        {"field": "thing.parts[1].name", "message": "a name is used twice", "type": "invalid_field"}
    ]


async def test_a_responder_refusing_request_data_answers_bad_input_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def responder(request: Event) -> dict[str, Any]:
        Whole.model_validate(request.data)
        return {}

    request = Event(event_type="MAKE", workflow_id="wf", phase="p", data={"level": 3})
    with caplog.at_level(logging.DEBUG):
        reply = await answer(request.replace(request_id="req_1"), responder)
    assert (H.STATUS, b"error") in reply.extra_headers
    assert reply.data["error"] == "BadInputError"
    assert reply.data["field"] == "data.level"
    assert (reply.data["retriable"], reply.data["bad_input"]) == (False, True)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    # The requester's side: exit 2, and no retry.
    remote = RemoteError(reply.data["message"], error=reply.data)
    assert (remote.exit_code, remote.retriable) == (2, False)

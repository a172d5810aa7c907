"""coordination-hub operations made of more than one request (helper protocol and helper
command forms)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from baton.cli.common import fail
from baton.cli.remote import Session, read_reply, remote
from baton.errors import ProtocolError
from baton.protocol.commands import CommandRequest, HubCommand, RecoveryCommand, request_data
from baton.protocol.commands.replies import (
    GetWorkflowReply,
    ListCheckpointsReply,
    WorkflowChangeReply,
)
from baton.protocol.commands.requests import ReasonRequest
from baton.protocol.event import Event
from baton.protocol.invalid import bad_input
from baton.protocol.messages.base import Identifier, Priority

__all__ = [
    "check_definition",
    "definition_from_options",
    "publish_event",
    "recovery_mode",
    "wait_scheduled",
    "workflow_state",
]

_ACTIVE = frozenset({"STARTED", "SCHEDULED", "QUEUED"})


class _Checked(BaseModel):
    """The fields of a definition the CLI checks itself (the hub checks them all)."""

    model_config = ConfigDict(extra="ignore")

    workflow_id: Identifier
    priority: Priority = "medium"


def check_definition(definition: dict[str, Any]) -> None:
    """Exit 2 on what the CLI can tell is wrong in a definition before sending it (its id
    and priority); the hub checks the whole definition again, and the rest.
    """
    try:
        _Checked.model_validate(definition)
    except ValidationError as exc:
        raise fail(bad_input(exc, root="definition")) from None


def definition_from_options(
    workflow_id: str, *, priority: str, phases: str, agents: int
) -> dict[str, Any]:
    """The helper's ``create-workflow research_auth_001 --priority=high`` as a definition."""
    names = [p.strip() for p in phases.split(",") if p.strip()]
    return {
        "workflow_id": workflow_id,
        "name": workflow_id,
        "priority": priority,
        "phases": names or ["main"],
        "resource_requirements": {"agents": agents},
    }


async def workflow_state(s: Session, workflow_id: str) -> dict[str, Any]:
    """The hub's stored state of ``workflow_id``, read through its reply model."""
    got = await s.ask(
        service="hub",
        event_type=HubCommand.GET,
        workflow_id=workflow_id,
        data=request_data(CommandRequest()),
    )
    return read_reply(GetWorkflowReply, got, service="hub").workflow


async def wait_scheduled(s: Session, reply: dict[str, Any]) -> dict[str, Any]:
    """Poll until the created workflow leaves CREATED (scheduled, queued, started or failed)."""
    workflow_id = reply["workflow_id"]
    while s.remaining() > 0.5:
        state = await workflow_state(s, workflow_id)
        if state["status"] != "CREATED":
            return {
                **reply,
                "status": state["status"],
                "state_version": state["state_version"],
                "queue": state.get("queue"),
                "allocation": state.get("allocation"),
            }
        s.status.update(f"{workflow_id}: waiting for the resource manager")
        await asyncio.sleep(0.2)
    return reply


def publish_event(body: Any, *, timeout: float, request_id: str | None = None) -> None:
    """The helper protocol's ``publish-event``: put one event on the events topic, print its
    ack (with the caller's ``request_id`` when its envelope named one)."""
    if not isinstance(body, dict):
        raise fail(ProtocolError("must be a JSON object", part="event"))
    data = body.get("data", {})
    try:
        draft = Event(
            event_type=str(body.get("event_type", "")),
            workflow_id=str(body.get("workflow_id", "")),
            phase=str(body.get("phase", "")),
            data=data if isinstance(data, dict) else {"value": data},
        )
        event = Event.parse(draft.line, source="cli")  # the wire format's checks
    except ProtocolError as exc:
        raise fail(exc) from None

    async def work(s: Session) -> dict[str, Any]:
        # The same event (same event id) on a retry: consumers apply an event id once.
        ack = await s.bus.publish(event)
        echo = {} if request_id is None else {"request_id": request_id}
        return {
            **echo,
            "line": event.line,
            "event_id": event.event_id,
            "routing_key": event.routing_key,
            "topic": ack.topic,
            "partition": ack.partition,
            "offset": ack.offset,
            "findings": list(s.bus.registry.check(event.event_type, event.data)),
        }

    remote(work, timeout=timeout, label=f"publishing {event.event_type}")


def recovery_mode(
    workflow_id: str, spec: dict[str, Any], *, timeout: float, request_id: str | None
) -> None:
    """The helper's ``recovery-mode``: pause the workflow (when it runs) and list the
    checkpoints workflow-recovery can restore it from, newest first."""
    strategy = str(spec.get("recovery_strategy", "checkpoint_restore"))

    async def work(s: Session) -> dict[str, Any]:
        state = await workflow_state(s, workflow_id)
        paused = False
        status = state["status"]
        if status in _ACTIVE:
            reply = await s.ask(
                service="hub",
                event_type=HubCommand.PAUSE,
                workflow_id=workflow_id,
                data=request_data(ReasonRequest(reason=f"recovery mode: {strategy}")),
                request_id=request_id,
            )
            status, paused = read_reply(WorkflowChangeReply, reply, service="hub").status, True
        listed = await s.ask(
            service="recovery",
            event_type=RecoveryCommand.LIST_CHECKPOINTS,
            workflow_id=workflow_id,
            data=request_data(CommandRequest()),
        )
        checkpoints = sorted(
            read_reply(ListCheckpointsReply, listed, service="recovery").checkpoints,
            key=lambda c: (c["state_version"], c["created_at"]),
            reverse=True,
        )
        return {
            "workflow_id": workflow_id,
            "recovery_strategy": strategy,
            "status": status,
            "paused": paused,
            "checkpoints": checkpoints,
            "restore_from": checkpoints[0]["checkpoint_id"] if checkpoints else None,
            "fallback_options": spec.get("fallback_options", []),
        }

    remote(work, timeout=timeout, label=f"{workflow_id}: entering recovery mode")

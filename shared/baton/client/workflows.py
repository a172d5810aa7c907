"""The hub's workflow calls a client offers: create, status, cancel, wait for an outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError

from baton.client.snapshot import TERMINAL_STATUSES, WorkflowSnapshot, snapshot
from baton.errors import ProtocolError, RequestTimeoutError
from baton.protocol.commands import (
    CommandReply,
    CommandRequest,
    HubCommand,
    parse_reply,
    reply_data,
    request_data,
)
from baton.protocol.commands.replies import (
    CreateWorkflowReply,
    GetWorkflowReply,
    WorkflowChangeReply,
)
from baton.protocol.commands.requests import CreateWorkflowRequest, ReasonRequest
from baton.protocol.event import Event

__all__ = ["WorkflowCalls"]

R = TypeVar("R", bound=CommandReply)


def _read(model: type[R], reply: Event) -> R:
    """``reply``'s data read through its command's model.

    Raises:
        ProtocolError: the hub's reply does not fit the model (``part`` names the field).
    """
    try:
        return parse_reply(model, reply.data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(
            f"the hub's {reply.event_type} does not fit {model.__name__}: {first['msg']}",
            part=f"reply.data.{where}" if where else "reply.data",
        ) from None


class WorkflowCalls:
    """Typed calls to the coordination hub, on top of :meth:`request`."""

    # Provided by BatonClient.request (keyword arguments: service, event_type, workflow_id,
    # data, timeout); declared, not stubbed, so its signature lives in one place.
    request: Callable[..., Awaitable[Event]]

    async def create_workflow(
        self, definition: Mapping[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Create a workflow from a hub definition (the helper's JSON or the task-DAG form).

        Returns:
            The hub's reply: ``workflow_id``, ``status``, ``state_version``, ``events``.

        Raises:
            ProtocolError: the definition has no ``workflow_id``.
            RemoteError: the hub refused it (invalid, or the id exists).
        """
        workflow_id = definition.get("workflow_id")
        if not isinstance(workflow_id, str) or not workflow_id:
            raise ProtocolError("the definition needs a workflow_id", part="definition.workflow_id")
        reply = await self.request(
            service="hub",
            event_type=HubCommand.CREATE_WORKFLOW,
            workflow_id=workflow_id,
            data=request_data(CreateWorkflowRequest(definition=dict(definition))),
            timeout=timeout,
        )
        return reply_data(_read(CreateWorkflowReply, reply))

    async def workflow_status(
        self, workflow_id: str, *, timeout: float | None = None
    ) -> WorkflowSnapshot:
        """The workflow's current state, from the hub.

        Raises:
            RemoteError: the hub has no such workflow.
        """
        reply = await self.request(
            service="hub",
            event_type=HubCommand.GET,
            workflow_id=workflow_id,
            data=request_data(CommandRequest()),
            timeout=timeout,
        )
        return snapshot(workflow_id, _read(GetWorkflowReply, reply))

    async def cancel_workflow(
        self, workflow_id: str, *, reason: str = "", timeout: float | None = None
    ) -> dict[str, Any]:
        """Cancel a workflow that has not ended: its tasks are taken away from their agents
        and what it holds of the resource pools is released.

        Returns:
            The hub's reply: ``workflow_id``, ``status``, ``state_version``.

        Raises:
            RemoteError: the hub has no such workflow, or it has already ended.
        """
        request = ReasonRequest(reason=reason) if reason else ReasonRequest()
        reply = await self.request(
            service="hub",
            event_type=HubCommand.CANCEL,
            workflow_id=workflow_id,
            data=request_data(request),
            timeout=timeout,
        )
        return reply_data(_read(WorkflowChangeReply, reply))

    async def wait_for_workflow(
        self,
        workflow_id: str,
        *,
        statuses: frozenset[str] | Sequence[str] = TERMINAL_STATUSES,
        timeout: float,
        poll_interval: float = 0.5,
    ) -> WorkflowSnapshot:
        """Wait until the workflow reaches one of ``statuses`` (default: any terminal one).

        Choice: it polls the hub's ``HubCommand.GET`` rather than subscribing to events, so it
        needs no consumer group, works on a started client, and cannot miss a change made
        before the call. A terminal status other than the wanted ones ends the wait early.

        Raises:
            RequestTimeoutError: the workflow did not get there within ``timeout`` seconds.
        """
        wanted = frozenset(statuses)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: WorkflowSnapshot | None = None
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            last = await self.workflow_status(workflow_id, timeout=max(remaining, 1.0))
            if last.status in wanted or last.terminal:
                return last
            await asyncio.sleep(min(poll_interval, max(0.0, deadline - loop.time())))
        raise RequestTimeoutError(
            f"workflow {workflow_id} is {last.status if last else 'unknown'}, not one of "
            f"{', '.join(sorted(wanted))}, after {timeout:g}s",
            service="hub",
            workflow_id=workflow_id,
            status=last.status if last else None,
        )

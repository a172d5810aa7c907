"""The hub's commands (request-response), each answered inside the responder's transaction.

:meth:`HubCommands.commands` maps every :class:`~baton.protocol.commands.HubCommand` to
its handler, as the events' subscriptions map patterns to theirs. A handler takes the
request and its data read through the command's request model, and answers with the
command's reply model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from baton.bus.tracecontext import current_trace
from baton.errors import BadInputError
from baton.protocol.commands import CommandReply, CommandRequest, HubCommand, parse_request
from baton.protocol.commands import reply_data as _reply_data
from baton.protocol.commands.replies import (
    CreateWorkflowReply,
    GetContextReply,
    GetSignalsReply,
    GetWorkflowReply,
    ListWorkflowsReply,
    StartPhaseReply,
    WorkflowChangeReply,
)
from baton.protocol.commands.requests import (
    CreateWorkflowRequest,
    GetContextRequest,
    GetSignalsRequest,
    ListWorkflowsRequest,
    StartPhaseRequest,
)
from baton.protocol.event import Event
from baton.protocol.invalid import bad_input
from baton_hub import workflow as wf
from baton_hub.commands import operation
from baton_hub.definition import WorkflowDefinition
from baton_hub.recording import HubCore
from baton_hub.state import WorkflowState

__all__ = ["CommandHandler", "HubCommands"]

CommandHandler = Callable[[Any, Event, Any], Awaitable[CommandReply]]
"""A command's handler: the transaction, the request and its data's model → the reply."""


_CREATED: ContextVar[WorkflowState | None] = ContextVar("baton_hub_created", default=None)
"""The workflow a CREATE_WORKFLOW request created, for the code that runs after its commit
(in the request's task). Cleared when a request starts and set last, once nothing of the
request but its commit can fail (and nothing runs after a failed commit)."""


def _now() -> datetime:
    return datetime.now(UTC)


class HubCommands(HubCore):
    """The hub's answers to its commands."""

    def commands(self) -> dict[HubCommand, CommandHandler]:
        """Command → handler (the reads, creation and a phase's start have their own; every
        other command is a change of the workflow's state)."""
        change = self._change
        return {
            HubCommand.CREATE_WORKFLOW: self._create,
            HubCommand.GET: self._get,
            HubCommand.LIST: self._list,
            HubCommand.SIGNALS: self._signals,
            HubCommand.GET_CONTEXT: self._context,
            HubCommand.START_PHASE: self._start_phase,
            HubCommand.ASSIGN_AGENTS: change,
            HubCommand.PAUSE: change,
            HubCommand.RESUME: change,
            HubCommand.CANCEL: change,
            HubCommand.SIGNAL: change,
            HubCommand.UPDATE_CONTEXT: change,
            HubCommand.QUALITY_SCORE: change,
            HubCommand.SATISFY_DEPENDENCY: change,
            HubCommand.CHECKPOINT: change,
            HubCommand.RECOVER_TASK: change,
            HubCommand.RESTORE_CHECKPOINT: change,
        }

    def created_by_request(self) -> WorkflowState | None:
        """The workflow the request just answered created, as committed, if any (read once)."""
        state = _CREATED.get()
        _CREATED.set(None)
        return state

    async def command(self, conn: Any, request: Event) -> dict[str, Any]:
        """Apply one request inside ``conn`` (the durable responder's transaction)."""
        _CREATED.set(None)
        command, data = parse_request(HubCommand, service="hub", request=request)
        return _reply_data(await self.commands()[command](conn, request, data))

    async def _create(
        self, conn: Any, request: Event, data: CreateWorkflowRequest
    ) -> CreateWorkflowReply:
        # The definition under "definition", or its fields at the top of the data.
        given = data.definition if "definition" in data.model_fields_set else request.data
        if not isinstance(given, dict):
            raise BadInputError("must be a JSON object", field="definition")
        definition = {"workflow_id": request.workflow_id, **given}
        try:
            outcome = wf.create(definition, now=_now())
        except ValidationError as exc:
            raise bad_input(exc, root="definition", model=WorkflowDefinition) from None
        state, events = outcome
        state.delegate_failures = self.config.failure_policy == "recovery"
        state.trace_context = current_trace()  # the request's: the workflow's trace
        await self._record(conn, None, outcome)
        reply = CreateWorkflowReply(
            workflow_id=state.workflow_id,
            status=state.status,
            state_version=state.state_version,
            events=[e.event_type for e in events],
        )
        _CREATED.set(state)
        return reply

    async def _get(self, conn: Any, request: Event, data: CommandRequest) -> GetWorkflowReply:
        state = await self._existing(conn, request.workflow_id)
        return GetWorkflowReply(workflow=state.model_dump(mode="json"), **wf.state_sync(state))

    async def _list(
        self, conn: Any, request: Event, data: ListWorkflowsRequest
    ) -> ListWorkflowsReply:
        return ListWorkflowsReply(workflows=await self.store.summaries(conn, status=data.status))

    async def _signals(self, conn: Any, request: Event, data: GetSignalsRequest) -> GetSignalsReply:
        state = await self._existing(conn, request.workflow_id)
        found = wf.signals(
            state, agent_id=data.agent_id, signal_type=data.signal_type, limit=data.limit
        )
        return GetSignalsReply(signals=[s.model_dump(mode="json") for s in found])

    async def _context(self, conn: Any, request: Event, data: GetContextRequest) -> GetContextReply:
        state = await self._existing(conn, request.workflow_id)
        return GetContextReply(
            context=wf.context_for(state, target=data.target), version=state.context.version
        )

    async def _start_phase(
        self, conn: Any, request: Event, data: StartPhaseRequest
    ) -> StartPhaseReply:
        before, state = await self._mutate_in(
            conn, request.workflow_id, operation(HubCommand.START_PHASE, data, now=_now())
        )
        # start_phase changes nothing only when the phase already runs (idempotent).
        return StartPhaseReply(
            workflow_id=request.workflow_id,
            status=state.status,
            state_version=state.state_version,
            **wf.start_phase_reply(state, phase=data.phase, already_running=state is before),
        )

    async def _change(self, conn: Any, request: Event, data: CommandRequest) -> WorkflowChangeReply:
        command = HubCommand(request.event_type)
        _, state = await self._mutate_in(
            conn, request.workflow_id, operation(command, data, now=_now())
        )
        return WorkflowChangeReply(
            workflow_id=request.workflow_id, status=state.status, state_version=state.state_version
        )

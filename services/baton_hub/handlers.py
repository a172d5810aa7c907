"""The hub's handlers: commands (request-response) and events, each one transaction.

Every change loads the workflow row ``for update``, applies a pure transition from
:mod:`baton_hub.workflow`, stores the new state and queues its events — plus the versioned
state-sync message for the state topic — in the outbox, all in one transaction. Events are
applied once: their ids go into the idempotency ledger in that same transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from baton.backoff import BackoffPolicy
from baton.bus import Bus
from baton.bus.tracecontext import current_trace, trace_for
from baton.db import Database
from baton.errors import BadInputError, BatonError, HandlerError, RequestTimeoutError
from baton.protocol.commands import HubCommand, ResourceCommand, command_of
from baton.protocol.event import Event
from baton.protocol.invalid import bad_input
from baton.runtime import Outbox
from baton_hub import workflow as wf
from baton_hub.commands import Op, need, operation
from baton_hub.config import HubConfig
from baton_hub.definition import WorkflowDefinition
from baton_hub.errors import UnknownItemError
from baton_hub.events import HubEvent
from baton_hub.recovery import checkpoint_requests
from baton_hub.state import WorkflowState
from baton_hub.store import WorkflowStore

__all__ = ["CREATED", "HubHandlers", "allocation_request_id"]

CREATED = "workflow.*.created"
"""What :meth:`HubHandlers.on_workflow_created` takes, in a consumer group of its own."""

log = logging.getLogger("baton.hub")

_RESOURCE_SILENT = BackoffPolicy(base=0.5, max_delay=10.0, max_attempts=None, jitter="none")
"""Pauses before asking a silent resource manager again for a workflow's allocation."""


def allocation_request_id(workflow_id: str) -> str:
    """One allocation request per workflow: the resource manager dedupes on this id."""
    return f"req_{workflow_id}"


def _now() -> datetime:
    return datetime.now(UTC)


class HubHandlers:
    """Binds the pure state machine to PostgreSQL, the outbox and the bus."""

    def __init__(self, *, bus: Bus, db: Database, outbox: Outbox, config: HubConfig) -> None:
        self.bus = bus
        self.db = db
        self.outbox = outbox
        self.config = config
        self.store = WorkflowStore()

    # -- plumbing ----------------------------------------------------------------------

    async def _record(self, conn: Any, before: WorkflowState | None, outcome: wf.Outcome) -> None:
        state, events = outcome
        if before is None:
            if not await self.store.insert(conn, state):
                raise HandlerError(
                    f"workflow {state.workflow_id} already exists",
                    retriable=False,
                    workflow_id=state.workflow_id,
                )
        elif state is not before and state.state_version != before.state_version:
            await self.store.update(conn, state)
        changed = before is None or state.state_version != before.state_version
        if changed and self.config.checkpoints:
            events = [
                *events,
                *(
                    HubEvent(
                        event_type="CHECKPOINT_REQUESTED",
                        workflow_id=state.workflow_id,
                        phase=state.phase_name,
                        data=data,
                    )
                    for data in checkpoint_requests(
                        state, events, every=self.config.checkpoint_every
                    )
                ),
            ]
        # In the workflow's trace even when the change comes from the timeouts loop, another
        # workflow's event or a client's request (empty: the running code is in it already).
        trace = trace_for(state.trace_context)
        queued: list[tuple[Event, str | None]] = []
        for event in events:
            if event.event_type == "CHECKPOINT_REQUESTED":
                # The whole state of this version: workflow-recovery stores exactly it.
                event = event.model_copy(
                    update={"data": {**event.data, "snapshot": state.model_dump(mode="json")}}
                )
            queued.append((_to_event(event, trace=trace), None))
        if changed:
            sync = Event(
                event_type="WORKFLOW_STATE",
                workflow_id=state.workflow_id,
                phase=state.phase_name,
                data=wf.state_sync(state),
                extra_headers=trace,
            )
            queued.append((sync, self.bus.topics.state))
        await self.outbox.add_many(conn, queued)  # in order, one round trip

    async def _mutate_in(
        self, conn: Any, workflow_id: str, op: Op
    ) -> tuple[WorkflowState, WorkflowState]:
        """Apply ``op`` to the stored workflow; the state before and after (the same
        object when nothing changed)."""
        state = await self.store.get(conn, workflow_id, lock=True)
        if state is None:
            raise UnknownItemError(
                f"no workflow {workflow_id}",
                workflow_id=workflow_id,
                kind="workflow",
                name=workflow_id,
            )
        outcome = op(state)
        await self._record(conn, state, outcome)
        return state, outcome[0]

    async def _mutate(self, workflow_id: str, op: Op, *, event_id: str) -> WorkflowState | None:
        """Apply ``op`` once per ``event_id``; None when the workflow is not the hub's."""
        async with self.db.transaction() as conn:
            first, state = await self.store.first_and_get(
                conn, event_id=event_id, workflow_id=workflow_id
            )
            if not first:
                return None
            if state is None:
                return None  # an event about a workflow this hub does not run
            outcome = op(state)
            await self._record(conn, state, outcome)
        self.outbox.notify()
        return outcome[0]

    # -- commands ----------------------------------------------------------------------

    async def command(self, conn: Any, request: Event) -> dict[str, Any]:
        """Apply one request inside ``conn`` (the durable responder's transaction)."""
        kind = command_of(HubCommand, service="hub", event_type=request.event_type)
        data, wid, now = request.data, request.workflow_id, _now()
        if kind is HubCommand.CREATE_WORKFLOW:
            given = data.get("definition", data)
            if not isinstance(given, dict):
                raise BadInputError("must be a JSON object", field="definition")
            definition = {"workflow_id": wid, **given}
            try:
                outcome = wf.create(definition, now=now)
            except ValidationError as exc:
                raise bad_input(exc, root="definition", model=WorkflowDefinition) from None
            outcome[0].delegate_failures = self.config.failure_policy == "recovery"
            outcome[0].trace_context = current_trace()  # the request's: the workflow's trace
            await self._record(conn, None, outcome)
            return _summary(outcome)
        if kind is HubCommand.GET:
            state = await self.store.get(conn, wid)
            if state is None:
                raise UnknownItemError(
                    f"no workflow {wid}", workflow_id=wid, kind="workflow", name=wid
                )
            return {"workflow": state.model_dump(mode="json"), **wf.state_sync(state)}
        if kind is HubCommand.LIST:
            return {"workflows": await self.store.summaries(conn, status=data.get("status"))}
        if kind is HubCommand.SIGNALS:
            state = await self._existing(conn, wid)
            found = wf.signals(
                state,
                agent_id=data.get("agent_id"),
                signal_type=data.get("signal_type"),
                limit=data.get("limit"),
            )
            return {"signals": [s.model_dump(mode="json") for s in found]}
        if kind is HubCommand.GET_CONTEXT:
            state = await self._existing(conn, wid)
            return {
                "context": wf.context_for(state, target=need(data, "target")),
                "version": state.context.version,
            }
        before, state = await self._mutate_in(conn, wid, operation(kind, data, now=now))
        reply: dict[str, Any] = {
            "workflow_id": wid,
            "status": state.status,
            "state_version": state.state_version,
        }
        if kind is HubCommand.START_PHASE:
            # start_phase changes nothing only when the phase already runs (idempotent).
            reply |= wf.start_phase_reply(
                state, phase=data["phase"], already_running=state is before
            )
        return reply

    async def _existing(self, conn: Any, workflow_id: str) -> WorkflowState:
        state = await self.store.get(conn, workflow_id)
        if state is None:
            raise UnknownItemError(
                f"no workflow {workflow_id}",
                workflow_id=workflow_id,
                kind="workflow",
                name=workflow_id,
            )
        return state

    # -- events ------------------------------------------------------------------------

    def subscriptions(self) -> dict[str, Callable[[Event], Awaitable[None]]]:
        """Routing-key pattern → handler, for the hub's consumer group."""
        return {
            "resource.*.allocated": self.on_resource_allocated,
            "task.*.started": self.on_task_event,
            "task.*.completed": self.on_task_event,
            "task.*.failed": self.on_task_event,
            "quality.*.score": self.on_quality_score,
            "dependency.*.satisfied": self.on_dependency_satisfied,
        }

    async def on_workflows_created(self, events: list[Event]) -> None:
        """New workflows of one partition that arrived together, allocated at once: each
        asks the resource manager and waits for its answer, and they are independent.

        One failing cancels the others; the bus then hands them over one by one, and a
        repeated allocation request (its id is the workflow's) gets the same answer.
        """
        async with asyncio.TaskGroup() as group:
            for event in events:
                group.create_task(self.on_workflow_created(event))

    async def on_workflow_created(self, event: Event) -> None:
        async with self.db.connection() as conn:
            state = await self.store.get(conn, event.workflow_id)
        if state is None or state.status != "CREATED":
            return  # not ours, or already handled
        reply = await self._allocate(state)
        answer = reply.get("allocation_response", {})
        agents = reply.get("agent_ids") or []
        resources = answer.get("allocated_resources") or {}

        def apply(s: WorkflowState) -> wf.Outcome:
            if s.status != "CREATED":
                return s, []
            return wf.on_allocation(
                s,
                status=answer.get("status", "denied"),
                allocation_id=resources.get("allocation_id"),
                agents=agents,
                queue_position=answer.get("queue_position"),
                estimated_start=answer.get("estimated_start"),
                reason=reply.get("reason"),
                now=_now(),
            )

        await self._mutate(event.workflow_id, apply, event_id=event.event_id)

    async def _allocate(self, state: WorkflowState) -> dict[str, Any]:
        fields = state.definition.to_allocation_request_fields()
        priority = fields.pop("priority")
        request = Event(
            event_type=ResourceCommand.ALLOCATE,
            workflow_id=state.workflow_id,
            phase=state.phase_name,
            data={
                "allocation_request": {
                    "request_id": allocation_request_id(state.workflow_id),
                    "workflow_id": state.workflow_id,
                    "requester": "coordination-hub",
                    "priority": priority,
                    "resources": fields,
                    "constraints": {"max_wait_time": "30d"},
                    "fallback_options": {"queue_if_unavailable": True},
                }
            },
        )
        deadline = time.monotonic() + self.config.allocation_patience
        waits = _RESOURCE_SILENT.waits()
        while True:
            try:
                return (await self.bus.request(request, service="resource")).data
            except RequestTimeoutError:
                delay = next(waits)
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("resource manager silent; asking again for %s", state.workflow_id)
                await asyncio.sleep(delay)

    async def on_resource_allocated(self, event: Event) -> None:
        data = event.data
        if data.get("request_id") != allocation_request_id(event.workflow_id):
            return

        def apply(s: WorkflowState) -> wf.Outcome:
            # CREATED too: the allocations group may not have applied the reply yet; then
            # this event (the same grant) starts the workflow and the reply changes nothing.
            if s.status not in ("CREATED", "QUEUED"):
                return s, []
            return wf.on_allocation(
                s,
                status=data.get("status", "approved"),
                allocation_id=data.get("allocation_id"),
                agents=data.get("agent_ids") or [],
                now=_now(),
            )

        await self._mutate(event.workflow_id, apply, event_id=event.event_id)

    async def on_task_event(self, event: Event) -> None:
        """An agent's TASK_STARTED / COMPLETED / FAILED report.

        The state machine announces each accepted report with an event of the same type; the
        agent's own report is already on the topic, so that echo is not published again.
        """
        if event.source == self.bus.settings.component:
            return  # the hub's own announcement
        data, now = event.data, _now()
        task_id, agent_id = need(data, "task_id"), need(data, "agent_id")
        token = data.get("fencing_token")
        ops: dict[str, Op] = {
            "TASK_STARTED": lambda s: wf.on_task_started(
                s, task_id=task_id, agent_id=agent_id, fencing_token=token, now=now
            ),
            "TASK_COMPLETED": lambda s: wf.on_task_completed(
                s,
                task_id=task_id,
                agent_id=agent_id,
                fencing_token=token,
                results=data.get("results"),
                quality_score=data.get("quality_score"),
                now=now,
            ),
            "TASK_FAILED": lambda s: wf.on_task_failed(
                s,
                task_id=task_id,
                agent_id=agent_id,
                fencing_token=token,
                reason=str(data.get("failure_reason") or data.get("reason") or "failed"),
                now=now,
            ),
        }
        op = ops[event.event_type]

        def without_echo(s: WorkflowState) -> wf.Outcome:
            state, events = op(s)
            return state, [
                e
                for e in events
                if not (e.event_type == event.event_type and e.data.get("task_id") == task_id)
            ]

        await self._mutate(event.workflow_id, without_echo, event_id=event.event_id)

    async def on_quality_score(self, event: Event) -> None:
        task_id, score = need(event.data, "task_id"), float(need(event.data, "score"))
        await self._mutate(
            event.workflow_id,
            lambda s: wf.on_quality_score(s, task_id=task_id, score=score, now=_now()),
            event_id=event.event_id,
        )

    async def on_dependency_satisfied(self, event: Event) -> None:
        dependency = need(event.data, "dependency")
        await self._mutate(
            event.workflow_id,
            lambda s: wf.on_external_event(s, dependency=dependency, now=_now()),
            event_id=event.event_id,
        )

    # -- loops -------------------------------------------------------------------------

    async def timeouts_loop(self) -> None:
        """Check deadlines of active workflows every ``timeout_interval`` seconds.

        Each pass reads only the active workflows' versions; a state is parsed again only
        when its version changed, deadlines are checked in memory, and a transaction (with
        the row lock, checking again) is taken only for a workflow that has something due.
        """
        known: dict[str, tuple[int, WorkflowState]] = {}
        while True:
            await asyncio.sleep(self.config.timeout_interval)
            async with self.db.connection() as conn:
                versions = await self.store.active_versions(conn)
                stale = [w for w, v in versions.items() if known.get(w, (0,))[0] != v]
                for state in await self.store.get_many(conn, stale):
                    known[state.workflow_id] = (state.state_version, state)
            known = {w: known[w] for w in versions if w in known}
            now = _now()
            for workflow_id, (_, state) in list(known.items()):
                if wf.check_timeouts(state, now=now)[0] is state:
                    continue  # nothing due
                try:
                    async with self.db.transaction() as conn:
                        await self._mutate_in(
                            conn, workflow_id, lambda s: wf.check_timeouts(s, now=_now())
                        )
                    self.outbox.notify()
                except BatonError as exc:
                    log.warning("timeout check of %s failed: %s", workflow_id, exc)


def _to_event(event: HubEvent, *, trace: tuple[tuple[str, bytes], ...] = ()) -> Event:
    return Event(
        event_type=event.event_type,
        workflow_id=event.workflow_id,
        phase=event.phase,
        data=event.data,
        extra_headers=trace,
    )


def _summary(outcome: wf.Outcome) -> dict[str, Any]:
    state, events = outcome
    return {
        "workflow_id": state.workflow_id,
        "status": state.status,
        "state_version": state.state_version,
        "events": [e.event_type for e in events],
    }

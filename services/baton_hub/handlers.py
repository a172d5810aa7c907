"""The hub's handlers: commands (request-response), events and the timeouts loop.

Commands are answered by :class:`~baton_hub.command_handlers.HubCommands`, changes stored
through :class:`~baton_hub.recording.HubCore`; this module adds the events the hub
subscribes to and the loop that checks deadlines.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from baton.backoff import BackoffPolicy
from baton.bus import BatchHandler
from baton.errors import BatonError, RequestTimeoutError
from baton.protocol.commands import ResourceCommand
from baton.protocol.event import Event
from baton.protocol.routing import Pattern
from baton_hub import workflow as wf
from baton_hub.command_handlers import HubCommands
from baton_hub.commands import Op, need
from baton_hub.state import WorkflowState

__all__ = ["ALLOCATION_GRACE", "HubHandlers", "allocation_request_id"]

ALLOCATION_GRACE = 3.0
"""Seconds a new workflow is left to the replica that created it before the timeouts loop
allocates it instead (that replica stopped, or its request failed)."""

log = logging.getLogger("baton.hub")

_GRANTED = frozenset({"approved", "partial"})
"""Answers of the resource manager that grant agents (and publish ``RESOURCE_ALLOCATED``)."""

_GRANTS_KEPT = 10_000
"""Most grants applied from replies remembered at once (see ``HubHandlers._granted``)."""

_RESOURCE_SILENT = BackoffPolicy(base=0.5, max_delay=10.0, max_attempts=None, jitter="none")
"""Pauses before asking a silent resource manager again for a workflow's allocation."""


def allocation_request_id(workflow_id: str) -> str:
    """One allocation request per workflow: the resource manager dedupes on this id."""
    return f"req_{workflow_id}"


def _now() -> datetime:
    return datetime.now(UTC)


class HubHandlers(HubCommands):
    """The hub's commands, events and loops over PostgreSQL, the outbox and the bus."""

    # -- events ------------------------------------------------------------------------

    def subscriptions(self) -> dict[str, BatchHandler]:
        """Routing-key pattern → batch handler, for the hub's consumer group: one handler,
        so events of a partition that arrive together are applied in one transaction
        whatever their type (:meth:`on_events`)."""
        return dict.fromkeys(self._changes, self.on_events)

    @cached_property
    def _changes(self) -> dict[str, Callable[[Event], Op | None]]:
        """Routing-key pattern → what an event of it changes (None: nothing)."""
        return {
            "resource.*.allocated": self._on_resource_allocated,
            "task.*.started": self._on_task_event,
            "task.*.completed": self._on_task_event,
            "task.*.failed": self._on_task_event,
            "quality.*.score": self._on_quality_score,
            "dependency.*.satisfied": self._on_dependency_satisfied,
        }

    @cached_property
    def _builders(self) -> list[tuple[Pattern, Callable[[Event], Op | None]]]:
        return [(Pattern(p), build) for p, build in self._changes.items()]

    async def on_events(self, events: list[Event]) -> None:
        """Apply events of one partition, in order, in one transaction (all or none: the
        bus hands a failed batch over again one event at a time)."""
        changes: list[tuple[str, Op, str]] = []
        for event in events:
            key = event.routing_key
            build = next(b for pattern, b in self._builders if pattern.matches(key))
            op = build(event)
            if op is not None:
                changes.append((event.workflow_id, op, event.event_id))
        if changes:
            await self._mutate_many(changes)

    def after_command(self) -> None:
        """After a command's transaction committed: relay its events, and ask the resource
        manager at once for a workflow it created (:meth:`allocate_stuck` is the safety net
        should this process stop before the answer is stored)."""
        self.outbox.notify()
        created = self.created_by_request()
        if created is not None:  # in the request's context: the workflow's trace
            self.states.keep([created])  # committed: asking for its agents reads nothing
            self._queue_allocation(created.workflow_id)

    @cached_property
    def _to_allocate(self) -> asyncio.Queue[tuple[str, contextvars.Context]]:
        return asyncio.Queue()

    async def allocations_loop(self) -> None:
        """Allocate the workflows this replica has just created, each in a task of its own
        (they are independent, and each waits for the resource manager's answer)."""
        async with asyncio.TaskGroup() as tasks:
            while True:
                workflow_id, context = await self._to_allocate.get()
                tasks.create_task(self._allocate_quietly(workflow_id), context=context)

    @cached_property
    def _allocating(self) -> set[str]:
        """Workflows whose allocation is queued or under way here (asked once at a time)."""
        return set()

    def _queue_allocation(self, workflow_id: str) -> None:
        if workflow_id not in self._allocating:
            self._allocating.add(workflow_id)
            self._to_allocate.put_nowait((workflow_id, contextvars.copy_context()))

    async def _allocate_quietly(self, workflow_id: str) -> None:
        try:
            await self.allocate_created(workflow_id)
        except Exception as exc:
            log.warning(
                "allocating %s failed (%r); the timeouts loop tries again", workflow_id, exc
            )
        finally:
            self._allocating.discard(workflow_id)

    def allocate_stuck(self, states: Iterable[WorkflowState], *, now: datetime) -> list[str]:
        """Queue the allocation of workflows still CREATED ``ALLOCATION_GRACE`` seconds after
        their creation — the safety net of :meth:`after_command`, for a workflow whose
        replica stopped before storing the answer, or whose request failed. Any replica may
        ask: a repeated request gets the same answer, applied once. Returns the ids queued.
        """
        cutoff = now - timedelta(seconds=ALLOCATION_GRACE)
        stuck = [
            s.workflow_id
            for s in states
            if s.status == "CREATED"
            and s.created_at <= cutoff
            and s.workflow_id not in self._allocating
        ]
        for workflow_id in stuck:
            self._queue_allocation(workflow_id)
        return stuck

    async def allocate_created(self, workflow_id: str) -> None:
        """Ask the resource manager for a new workflow's agents and apply the answer (once:
        the ledger holds the allocation's request id)."""
        state = kept = self.states.get(workflow_id)
        if state is None:
            async with self.db.connection() as conn:
                state = await self.store.get(conn, workflow_id)
        if state is None or state.status != "CREATED":
            return  # not ours, or already handled
        if kept is None:  # committed: the answer is applied without reading it again
            self.states.keep([state])
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

        # Remembered before it is applied: the grant's RESOURCE_ALLOCATED event comes a
        # moment after the reply, usually while the reply is being applied, and would
        # otherwise be applied too (one of the two writes refused and read again). Should
        # the reply's change fail, the timeouts loop allocates the still CREATED workflow.
        granted = answer.get("status") in _GRANTED
        if granted:
            self._remember_grant(workflow_id)
        try:
            # One round trip or two, as the event batches: no lock, the versions are checked.
            await self._mutate_many([(workflow_id, apply, allocation_request_id(workflow_id))])
        except BaseException:
            if granted:
                self._granted.pop(workflow_id, None)
            raise

    @cached_property
    def _granted(self) -> dict[str, None]:
        """Workflows whose grant this replica applies (or applied) from the resource
        manager's reply, in order: the ``RESOURCE_ALLOCATED`` event of the same grant that
        follows changes nothing, so it is let through without a transaction when this
        replica reads it.
        Bounded: a grant whose event another replica reads is forgotten after
        ``_GRANTS_KEPT`` newer ones (its event, if read here after all, is then applied
        as a no-op as before)."""
        return {}

    def _remember_grant(self, workflow_id: str) -> None:
        granted = self._granted
        granted[workflow_id] = None
        if len(granted) > _GRANTS_KEPT:
            del granted[next(iter(granted))]

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

    def _on_resource_allocated(self, event: Event) -> Op | None:
        data = event.data
        if data.get("request_id") != allocation_request_id(event.workflow_id):
            return None
        if event.workflow_id in self._granted:
            del self._granted[event.workflow_id]
            return None  # the reply's copy of this grant is applied and committed

        def apply(s: WorkflowState) -> wf.Outcome:
            # CREATED too: the allocating replica may not have applied the reply yet; then
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

        return apply

    def _on_task_event(self, event: Event) -> Op | None:
        """An agent's TASK_STARTED / COMPLETED / FAILED report.

        The state machine announces each accepted report with an event of the same type; the
        agent's own report is already on the topic, so that echo is not published again.
        """
        if event.source == self.bus.settings.component:
            return None  # the hub's own announcement
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

        return without_echo

    def _on_quality_score(self, event: Event) -> Op | None:
        task_id, score = need(event.data, "task_id"), float(need(event.data, "score"))
        now = _now()
        return lambda s: wf.on_quality_score(s, task_id=task_id, score=score, now=now)

    def _on_dependency_satisfied(self, event: Event) -> Op | None:
        dependency = need(event.data, "dependency")
        now = _now()
        return lambda s: wf.on_external_event(s, dependency=dependency, now=now)

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
            self.allocate_stuck((state for _, state in known.values()), now=now)
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

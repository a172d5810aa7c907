"""workflow-recovery's handlers: checkpoints, failures, agent liveness, recovery actions.

- ``CHECKPOINT_REQUESTED`` (the hub's, carrying the whole state of that version): stored as
  a full or differential checkpoint (:mod:`baton_recovery.checkpoints.chain`), compressed and
  hashed; ``CHECKPOINT_CREATED`` announces it with the protocol's ``checkpoint_sync``.
- ``RECOVERY_REQUESTED`` (a failure the hub left to recovery) and ``WORKFLOW_FAILED``: an
  error report (classification, impact over the task graph of the latest checkpoint,
  ranked suggestions) kept and published as ``ERROR_REPORTED``; for a task failure the
  decided action (retry after a backoff, reassign away from an agent whose breaker is open,
  restore the latest checkpoint, skip, fail) is stored as a recovery action.
- Agent liveness: ``AGENT_HEARTBEAT`` and task progress are signs of life; assignments are
  watched. An agent silent for ``misses`` intervals gets ``AGENT_TIMEOUT``, each task it
  holds ``TASK_TIMEOUT`` and a reassignment (its breaker counts a failure). The watchdog's
  state is rows in PostgreSQL, judged by the replica holding each row's partition
  (:mod:`~baton_recovery.failures.watchdog`).
- Recovery actions run when due, each claimed by one replica: requests to the hub whose
  request id is the action id, so a repeated run (after a crash) is applied once by the
  hub's durable responder.

Recovery reads the events a fetch brings, every partition's, as one list
(:meth:`RecoveryHandlers.on_events`, :mod:`~baton_recovery.reading`): everything they change
— checkpoints, the watchdog's rows, ledger entries, reports, actions, outbox events — is
one PostgreSQL transaction, of a few statements per kind of event rather than per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from baton.bus import Bus
from baton.bus.tracecontext import trace_headers, trace_of
from baton.db import Database
from baton.errors import BatonError
from baton.protocol.duration import parse_duration
from baton.protocol.event import Event
from baton.protocol.fields import TERMINAL_STATUSES
from baton.protocol.messages.base import utc_now
from baton.runtime import Outbox, first_time
from baton_recovery.checkpoints.writer import CheckpointWriter, WrittenCheckpoints
from baton_recovery.config import RecoveryConfig
from baton_recovery.failures.actions import TRACE_CONTEXT, Actions, request_for
from baton_recovery.failures.classify import Classification, classify
from baton_recovery.failures.impact import Impact, assess_impact
from baton_recovery.failures.plan import Decision, Suggestion, decide
from baton_recovery.failures.report import context_from_signal, error_id_for, error_report
from baton_recovery.failures.taskgraph import task_graph
from baton_recovery.failures.watchdog import Watchdog
from baton_recovery.reading import RECOVERY_REQUESTED, Stored, steps
from baton_recovery.store import RecoveryStore

__all__ = ["RecoveryHandlers"]

log = logging.getLogger("baton.recovery")
CONSUMER = "recovery"


class RecoveryHandlers:
    """Binds the pure recovery modules to PostgreSQL, the outbox and the bus."""

    def __init__(
        self, *, bus: Bus, db: Database, outbox: Outbox, config: RecoveryConfig, group: str
    ) -> None:
        self.bus = bus
        self.db = db
        self.outbox = outbox
        self.config = config
        self.store = RecoveryStore()
        self.watchdog = Watchdog(
            bus=bus, db=db, outbox=outbox, store=self.store, config=config, group=group
        )
        self.actions = Actions(bus=bus, db=db, store=self.store, config=config)
        self._random = random.Random()
        self._wake = asyncio.Event()
        self.writer = CheckpointWriter(store=self.store, policy=config.chain())

    async def load(self) -> None:
        await self.watchdog.load()

    async def on_events(self, events: list[Event]) -> None:
        """Apply a batch of events in one transaction (all or none: the bus hands them over
        one by one if this raises), in their order (:func:`~baton_recovery.reading.steps`).

        Raises:
            HandlerError: a checkpoint request carries no state (never retried).
            DependencyUnavailableError: PostgreSQL does not answer; nothing was applied.
        """
        todo = steps(events)
        if not todo:
            return
        written: list[WrittenCheckpoints] = []
        decided = False
        async with self.db.transaction() as conn:
            for step in todo:
                if isinstance(step, Stored):
                    written += await self._store(conn, step)
                elif step.event_type == RECOVERY_REQUESTED:
                    decided = await self._recovery_requested(conn, step) or decided
                else:
                    await self._workflow_failed(conn, step)
        for done in written:
            self.writer.committed(done)
        for step in todo:
            if isinstance(step, Stored):
                for _, request in step.checkpoints:
                    # The last checkpoint of a workflow comes after its end (the hub asks for
                    # it with the change that ends it): nothing builds on it, so it goes.
                    if request.state.get("status") in TERMINAL_STATUSES:
                        self.writer.forget(request.workflow_id)
                for workflow_id in step.ended:
                    self.writer.forget(workflow_id)
        self.outbox.notify()
        if decided:
            self._wake.set()

    async def _store(self, conn: Any, step: Stored) -> list[WrittenCheckpoints]:
        """Store a run of checkpoint requests and the watchdog's signs in ``conn``."""
        out: list[WrittenCheckpoints] = []
        if step.checkpoints:
            # The checkpoint id is the idempotency key (the event's own id when the request
            # names none): a redelivered request finds it stored and creates nothing, so the
            # processed-events ledger would only cost a round trip here.
            written = await self.writer.write(conn, [r for _, r in step.checkpoints])
            await self.outbox.add_many(
                conn,
                [
                    (
                        Event(
                            event_type="CHECKPOINT_CREATED",
                            workflow_id=event.workflow_id,
                            phase=event.phase,
                            data=created,
                            # A batch mixes workflows: each answer joins its request's trace.
                            extra_headers=trace_headers(trace_of(event)),
                        ),
                        None,
                    )
                    for (event, _), created in zip(step.checkpoints, written.created, strict=True)
                    if created is not None
                ],
            )
            out.append(written)
        await self.watchdog.apply(conn, step.signs)
        return out

    # -- failures --------------------------------------------------------------------------

    async def _graph(self, conn: Any, workflow_id: str) -> tuple[dict[str, Any], str | None]:
        latest = await self.store.latest(conn, workflow_id)
        if latest is None:
            return {}, None
        try:
            state = await self.store.state_at(conn, latest.checkpoint_id)
        except BatonError as exc:
            log.warning("latest checkpoint of %s unusable: %s", workflow_id, exc)
            return {}, None
        return task_graph(state), latest.checkpoint_id

    async def _recovery_requested(self, conn: Any, event: Event) -> bool:
        """Decide and report a failure the hub left to recovery; False if seen before."""
        data, now = event.data, utc_now()
        task_id = str(data.get("task_id") or "")
        agent = data.get("agent_id") if isinstance(data.get("agent_id"), str) else None
        attempts = int(data.get("error_count") or data.get("attempts") or 1)
        signal = {**data, "error": data.get("failure_reason")}
        kind = "TASK_TIMEOUT" if "timeout" in str(data.get("failure_type")) else "TASK_FAILED"
        classification = classify(event_type=kind, data=signal, attempts=attempts)
        if not await first_time(conn, consumer=CONSUMER, event_id=event.event_id):
            return False
        breaker = (
            "closed"
            if agent is None
            else await self.watchdog.breaker_state(conn, agent_id=agent, now=now)
        )
        graph, checkpoint_id = await self._graph(conn, event.workflow_id)
        node = graph.get(task_id, {})
        decision = decide(
            classification=classification,
            attempts=attempts,
            policy=self.config.recovery(),
            rand=self._random.random,
            agent_id=agent,
            breaker=breaker,
            checkpoint_id=checkpoint_id,
            task_seconds=_seconds(node.get("expected_duration")) or 300.0,
        )
        impact = None
        if task_id in graph:
            impact = assess_impact(
                tasks=graph,
                failed_task=task_id,
                recovery_seconds=decision.delay_seconds,
                agent=agent,
            )
        report = _report_of(
            event,
            kind=kind,
            classification=classification,
            impact=impact,
            suggestions=decision.suggestions,
        )
        await self._report(conn, event, report, decision)
        request = request_for(decision, task_id=task_id, agent=agent)
        request[TRACE_CONTEXT] = trace_of(event)  # the action runs later, in this trace
        await self.store.add_action(
            conn,
            action_id=f"act_{event.event_id}",
            workflow_id=event.workflow_id,
            due_at=now + timedelta(seconds=decision.delay_seconds),
            request=request,
        )
        return True

    async def _workflow_failed(self, conn: Any, event: Event) -> None:
        """Report a workflow's failure; none of its tasks is watched any more."""
        data = event.data
        classification = classify(event_type=event.event_type, data=data)
        if not await first_time(conn, consumer=CONSUMER, event_id=event.event_id):
            return
        graph, _ = await self._graph(conn, event.workflow_id)
        failed = data.get("failed_task")
        impact = None
        if isinstance(failed, str) and failed in graph:
            impact = assess_impact(tasks=graph, failed_task=failed)
        report = _report_of(
            event, kind=event.event_type, classification=classification, impact=impact
        )
        await self._report(conn, event, report, None)
        await self.watchdog.end_workflow(conn, workflow_id=event.workflow_id)

    async def _report(
        self, conn: Any, event: Event, report: dict[str, Any], decision: Decision | None
    ) -> None:
        decided = None if decision is None else decision.to_dict()
        await self.store.add_report(
            conn,
            error_id=report["error_id"],
            workflow_id=event.workflow_id,
            report=report,
            decision=decided,
        )
        await self.outbox.add(
            conn,
            Event(
                event_type="ERROR_REPORTED",
                workflow_id=event.workflow_id,
                phase=event.phase,
                data={"error_report": report, "decision": decided},
            ),
        )

    async def watchdog_loop(self) -> None:
        """Timeouts from missed heartbeats, then due recovery actions, every interval (and as
        soon as the next action's backoff ends, or a new action is stored)."""
        wait = self.config.check_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            await self.watchdog.check()
            await self.actions.run_due()
            wait = await self.actions.wait_seconds(
                now=utc_now(), longest=self.config.check_interval
            )


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except BatonError:
        return None


def _report_of(
    event: Event,
    *,
    kind: str,
    classification: Classification,
    impact: Impact | None,
    suggestions: Sequence[Suggestion] = (),
) -> dict[str, Any]:
    """The error report of a failure event (a task's or a workflow's) of type ``kind``."""
    data = event.data
    return error_report(
        error_id=error_id_for(event.event_id),
        workflow_id=event.workflow_id,
        timestamp=event.timestamp,
        classification=classification,
        context=context_from_signal(
            event_type=kind, phase=event.phase, data=data, component=event.source
        ),
        impact=impact,
        suggestions=suggestions,
        error_message=str(data.get("failure_reason") or "") or None,
        related_events=[event.event_id],
    )

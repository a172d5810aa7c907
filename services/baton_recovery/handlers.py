"""workflow-recovery's handlers: checkpoints, failures, agent liveness, recovery actions.

- ``CHECKPOINT_REQUESTED`` (the hub's, carrying the whole state of that version): stored as
  a full or differential checkpoint (:mod:`baton_recovery.chain`), compressed and hashed;
  ``CHECKPOINT_CREATED`` announces it with seed 001's ``checkpoint_sync``.
- ``RECOVERY_REQUESTED`` (a failure the hub left to recovery) and ``WORKFLOW_FAILED``: an
  error report (classification, impact over the task graph of the latest checkpoint,
  ranked suggestions) kept and published as ``ERROR_REPORTED``; for a task failure the
  decided action (retry after a backoff, reassign away from an agent whose breaker is open,
  restore the latest checkpoint, skip, fail) is stored as a recovery action.
- Agent liveness: ``AGENT_HEARTBEAT`` and task progress are signs of life; assignments are
  watched. An agent silent for ``misses`` intervals gets ``AGENT_TIMEOUT``, each task it
  holds ``TASK_TIMEOUT`` and a reassignment (its breaker counts a failure). The watchdog's
  state lives in memory and is saved with every check (a restart resumes from the last
  save; the hub's own execution timeouts remain the backstop for anything missed).
- Recovery actions run when due: requests to the hub whose request id is the action id, so
  a repeated run (after a crash) is applied once by the hub's durable responder.

Everything each handler changes — ledger entry, report, action, outbox events — is one
PostgreSQL transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from baton.bus import Bus
from baton.db import Database
from baton.errors import BatonError, HandlerError, RemoteError, RequestTimeoutError
from baton.protocol.duration import parse_duration
from baton.protocol.event import Event
from baton.runtime import Outbox, first_time
from baton_recovery.breaker import BreakerRegistry
from baton_recovery.chain import prepare_checkpoint
from baton_recovery.classify import classify
from baton_recovery.config import RecoveryConfig
from baton_recovery.impact import assess_impact
from baton_recovery.liveness import Liveness
from baton_recovery.plan import Decision, decide
from baton_recovery.report import context_from_signal, error_id_for, error_report
from baton_recovery.snapshot import state_snapshot
from baton_recovery.store import RecoveryStore
from baton_recovery.taskgraph import task_graph

__all__ = ["RecoveryHandlers"]

log = logging.getLogger("baton.recovery")
CONSUMER = "recovery"


def _now() -> datetime:
    return datetime.now(UTC)


class RecoveryHandlers:
    """Binds the pure recovery modules to PostgreSQL, the outbox and the bus."""

    def __init__(self, *, bus: Bus, db: Database, outbox: Outbox, config: RecoveryConfig) -> None:
        self.bus = bus
        self.db = db
        self.outbox = outbox
        self.config = config
        self.store = RecoveryStore()
        self.liveness = Liveness()
        self.breakers = BreakerRegistry()
        self._random = random.Random()
        self._dirty = False
        self._wake = asyncio.Event()

    async def load(self) -> None:
        async with self.db.pool.acquire() as conn:
            self.liveness, self.breakers = await self.store.load_watchdog(conn)

    def subscriptions(self) -> dict[str, Callable[[Event], Awaitable[None]]]:
        return {
            "checkpoint.*.requested": self.on_checkpoint_requested,
            "recovery.*.requested": self.on_recovery_requested,
            "workflow.*.failed": self.on_workflow_failed,
            "task.*.assigned": self.on_task_assigned,
            "task.*.started": self.on_task_progress,
            "phase.*.progress": self.on_task_progress,
            "task.*.completed": self.on_task_finished,
            "task.*.failed": self.on_task_finished,
            "agent.*.heartbeat": self.on_heartbeat,
        }

    # -- checkpoints -----------------------------------------------------------------------

    async def on_checkpoint_requested(self, event: Event) -> None:
        data = event.data
        snapshot = data.get("snapshot")
        if not isinstance(snapshot, dict):
            raise HandlerError(
                "CHECKPOINT_REQUESTED carries no data.snapshot (the state to keep)",
                retriable=False,
                part="data.snapshot",
            )
        checkpoint_id = str(data.get("checkpoint_id") or f"ckpt_{event.event_id}")
        async with self.db.transaction() as conn:
            if not await first_time(conn, consumer=CONSUMER, event_id=event.event_id):
                return
            created = await self.checkpoint(
                conn,
                workflow_id=event.workflow_id,
                checkpoint_id=checkpoint_id,
                checkpoint_type=str(data.get("checkpoint_type") or "manual"),
                trigger=str(data.get("trigger") or "requested"),
                state_version=int(data.get("state_version") or snapshot.get("state_version") or 0),
                state=snapshot,
            )
            if created is not None:
                await self.outbox.add(
                    conn,
                    Event(
                        event_type="CHECKPOINT_CREATED",
                        workflow_id=event.workflow_id,
                        phase=event.phase,
                        data=created,
                    ),
                )
        self.outbox.notify()

    async def checkpoint(
        self,
        conn: Any,
        *,
        workflow_id: str,
        checkpoint_id: str,
        checkpoint_type: str,
        trigger: str,
        state_version: int,
        state: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        """Store one checkpoint (full or delta); its ``checkpoint_sync`` data, or None when
        the id is taken already."""
        latest = await self.store.latest(conn, workflow_id)
        previous = None if latest is None else await self.store.state_at(conn, latest.checkpoint_id)
        deltas = (
            None if latest is None else (0 if latest.kind == "full" else latest.deltas_since_full)
        )
        prepared = prepare_checkpoint(
            state=state, previous=previous, deltas_since_full=deltas, policy=self.config.chain()
        )
        since_full = 0 if prepared.kind == "full" else (deltas or 0) + 1
        stored = await self.store.insert(
            conn,
            checkpoint_id=checkpoint_id,
            workflow_id=workflow_id,
            checkpoint_type=checkpoint_type,
            trigger=trigger,
            state_version=state_version,
            prepared=prepared,
            base_id=None if latest is None else latest.checkpoint_id,
            deltas_since_full=since_full,
        )
        if stored is None:
            return None
        return {
            "checkpoint_sync": {
                "message_type": "checkpoint_sync",
                "checkpoint_id": checkpoint_id,
                "workflow_id": workflow_id,
                "checkpoint_type": checkpoint_type,
                "trigger": trigger,
                "state_version": state_version,
                "state_snapshot": state_snapshot(dict(state)),
                "validation_results": {
                    "integrity_check": "passed",
                    "dependency_validation": "unknown",
                    "resource_consistency": "unknown",
                },
                "storage_metadata": {
                    "size_bytes": stored,
                    "compression_ratio": round(stored / prepared.full_size, 4),
                    "storage_location": f"postgresql:recovery_checkpoints/{checkpoint_id}",
                    "differential": prepared.kind == "delta",
                },
            }
        }

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

    async def on_recovery_requested(self, event: Event) -> None:
        data, now = event.data, _now()
        task_id = str(data.get("task_id") or "")
        agent = data.get("agent_id") if isinstance(data.get("agent_id"), str) else None
        attempts = int(data.get("error_count") or data.get("attempts") or 1)
        signal = {**data, "error": data.get("failure_reason")}
        kind = "TASK_TIMEOUT" if "timeout" in str(data.get("failure_type")) else "TASK_FAILED"
        classification = classify(event_type=kind, data=signal, attempts=attempts)
        policy = self.config.breakers()
        breaker = "closed" if agent is None else self.breakers.state(agent, now=now, policy=policy)
        async with self.db.transaction() as conn:
            if not await first_time(conn, consumer=CONSUMER, event_id=event.event_id):
                return
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
            report = error_report(
                error_id=error_id_for(event.event_id),
                workflow_id=event.workflow_id,
                timestamp=event.timestamp,
                classification=classification,
                context=context_from_signal(
                    event_type=kind, phase=event.phase, data=data, component=event.source
                ),
                impact=impact,
                suggestions=decision.suggestions,
                error_message=str(data.get("failure_reason") or "") or None,
                related_events=[event.event_id],
            )
            await self._report(conn, event, report, decision)
            request = _request_for(decision, task_id=task_id, agent=agent)
            await self.store.add_action(
                conn,
                action_id=f"act_{event.event_id}",
                workflow_id=event.workflow_id,
                due_at=now + timedelta(seconds=decision.delay_seconds),
                request=request,
            )
        self.outbox.notify()
        self._wake.set()

    async def on_workflow_failed(self, event: Event) -> None:
        data = event.data
        classification = classify(event_type=event.event_type, data=data)
        async with self.db.transaction() as conn:
            if not await first_time(conn, consumer=CONSUMER, event_id=event.event_id):
                return
            graph, _ = await self._graph(conn, event.workflow_id)
            failed = data.get("failed_task")
            impact = None
            if isinstance(failed, str) and failed in graph:
                impact = assess_impact(tasks=graph, failed_task=failed)
            report = error_report(
                error_id=error_id_for(event.event_id),
                workflow_id=event.workflow_id,
                timestamp=event.timestamp,
                classification=classification,
                context=context_from_signal(
                    event_type=event.event_type,
                    phase=event.phase,
                    data=data,
                    component=event.source,
                ),
                impact=impact,
                error_message=str(data.get("failure_reason") or "") or None,
                related_events=[event.event_id],
            )
            await self._report(conn, event, report, None)
        self.outbox.notify()

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

    # -- liveness ----------------------------------------------------------------------------

    async def on_task_assigned(self, event: Event) -> None:
        agent, task = event.data.get("agent_id"), event.data.get("task_id")
        if isinstance(agent, str) and isinstance(task, str):
            self.liveness.watch(
                workflow_id=event.workflow_id, task_id=task, agent_id=agent, now=_now()
            )
            self._dirty = True

    async def on_task_progress(self, event: Event) -> None:
        task, agent = event.data.get("task_id"), event.data.get("agent_id")
        now = _now()
        if isinstance(task, str):
            self.liveness.progress(workflow_id=event.workflow_id, task_id=task, now=now)
        if isinstance(agent, str):
            self.liveness.heartbeat(agent, now=now)
        self._dirty = True

    async def on_task_finished(self, event: Event) -> None:
        if event.source == "baton-hub" or event.source.endswith("-hub"):
            return  # the hub's announcements; agents' reports are what count
        task, agent = event.data.get("task_id"), event.data.get("agent_id")
        now, policy = _now(), self.config.breakers()
        if isinstance(task, str):
            self.liveness.unwatch(workflow_id=event.workflow_id, task_id=task)
        if isinstance(agent, str):
            self.liveness.heartbeat(agent, now=now)
            if event.event_type == "TASK_FAILED":
                self.breakers.record_failure(agent, now=now, policy=policy)
            else:
                self.breakers.record_success(agent, now=now, policy=policy)
        self._dirty = True

    async def on_heartbeat(self, event: Event) -> None:
        agent = event.data.get("agent_id") or event.phase
        if isinstance(agent, str) and agent:
            self.liveness.heartbeat(agent, now=_now())
            self._dirty = True

    async def watchdog_loop(self) -> None:
        """Timeouts from missed heartbeats, then due recovery actions, every interval."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.check_interval)
            self._wake.clear()
            await self.check_liveness()
            await self.run_due_actions()

    async def check_liveness(self) -> None:
        now = _now()
        due = self.liveness.due(now=now, policy=self.config.liveness())
        if not (due.agents or due.tasks or self._dirty):
            return
        policy = self.config.breakers()
        async with self.db.transaction() as conn:
            for agent in due.agents:
                self.breakers.record_failure(agent.agent_id, now=now, policy=policy)
                await self.outbox.add(
                    conn,
                    Event(
                        event_type="AGENT_TIMEOUT",
                        workflow_id="global",
                        phase=agent.agent_id,
                        data=agent.data(),
                    ),
                )
            for task in due.tasks:
                await self.outbox.add(
                    conn,
                    Event(
                        event_type="TASK_TIMEOUT",
                        workflow_id=task.workflow_id,
                        phase="recovery",
                        data=task.data(),
                    ),
                )
                stamp = int(now.timestamp() * 1000)
                await self.store.add_action(
                    conn,
                    action_id=f"act_timeout_{task.workflow_id}_{task.task_id}_{stamp}",
                    workflow_id=task.workflow_id,
                    due_at=now,
                    request={
                        "command": "RECOVER_TASK",
                        "task_id": task.task_id,
                        "action": "reassign",
                        "avoid_agents": [task.agent_id] if task.agent_id else [],
                        "reason": f"agent {task.agent_id} timed out ({task.reason})",
                    },
                )
            await self.store.save_watchdog(conn, liveness=self.liveness, breakers=self.breakers)
            self._dirty = False
        if due.agents or due.tasks:
            self.outbox.notify()

    async def run_due_actions(self) -> int:
        """Send every due recovery action to the hub; returns how many ran."""
        async with self.db.pool.acquire() as conn:
            due = await self.store.due_actions(conn, now=_now())
        for row in due:
            outcome = await self._execute(row["workflow_id"], row["action_id"], row["request"])
            if outcome is None:
                continue  # the hub did not answer: the next round tries again, same id
            async with self.db.pool.acquire() as conn:
                await self.store.finish_action(conn, action_id=row["action_id"], outcome=outcome)
        return len(due)

    async def _execute(
        self, workflow_id: str, action_id: str, request: dict[str, Any]
    ) -> dict[str, Any] | None:
        command = str(request.get("command"))
        data = {k: v for k, v in request.items() if k != "command"}
        try:
            if command == "RESTORE":
                return await self.restore(
                    workflow_id=workflow_id,
                    checkpoint_id=str(data["checkpoint_id"]),
                    request_id=action_id,
                )
            reply = await self.bus.request(
                Event(
                    event_type=command,
                    workflow_id=workflow_id,
                    phase="recovery",
                    data=data,
                    request_id=action_id,
                ),
                service="hub",
                timeout=self.config.action_timeout,
            )
            return {"ok": True, "reply": reply.data}
        except RequestTimeoutError:
            log.warning("hub did not answer recovery action %s; will retry", action_id)
            return None
        except RemoteError as exc:
            return {"ok": False, "error": str(exc)}
        except BatonError as exc:
            return {"ok": False, "error": str(exc)}

    async def restore(
        self, *, workflow_id: str, checkpoint_id: str, request_id: str | None = None
    ) -> dict[str, Any]:
        """Rebuild a checkpoint (every hash verified) and have the hub restore it.

        Raises:
            HandlerError: no such checkpoint for the workflow.
            CorruptCheckpointError: the stored checkpoint fails its hash check.
            RemoteError: the hub refused (e.g. the workflow was cancelled).
        """
        async with self.db.pool.acquire() as conn:
            row = await self.store.find(conn, checkpoint_id)
            if row is None or row.workflow_id != workflow_id:
                raise HandlerError(
                    f"no checkpoint {checkpoint_id} of workflow {workflow_id}",
                    retriable=False,
                    part="data.checkpoint_id",
                )
            state = await self.store.state_at(conn, checkpoint_id)
        reply = await self.bus.request(
            Event(
                event_type="RESTORE_CHECKPOINT",
                workflow_id=workflow_id,
                phase="recovery",
                data={"checkpoint_id": checkpoint_id, "snapshot": state},
                request_id=request_id or f"restore_{checkpoint_id}_{_now().timestamp():.0f}",
            ),
            service="hub",
            timeout=self.config.action_timeout,
        )
        return {
            "ok": True,
            "checkpoint_id": checkpoint_id,
            "state_version_restored": row.state_version,
            "verified_hash": row.state_hash,
            "reply": reply.data,
        }


def _request_for(decision: Decision, *, task_id: str, agent: str | None) -> dict[str, Any]:
    if decision.kind == "restore" and decision.checkpoint_id is not None:
        return {"command": "RESTORE", "checkpoint_id": decision.checkpoint_id}
    if decision.kind == "escalate":
        return {"command": "PAUSE_WORKFLOW", "reason": f"escalation: {decision.reason}"}
    action = decision.kind if decision.kind in ("retry", "reassign", "skip") else "fail"
    avoid = list(decision.avoid_agents)
    if action == "reassign" and agent is not None and agent not in avoid:
        avoid.append(agent)
    return {
        "command": "RECOVER_TASK",
        "task_id": task_id,
        "action": action,
        "avoid_agents": avoid,
        "reason": decision.reason,
    }


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except BatonError:
        return None

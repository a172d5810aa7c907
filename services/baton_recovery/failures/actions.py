"""Recovery actions: decided actions run when due, as requests to the hub.

With N replicas, each due action is claimed by one of them (a row lock skipped by the
others, and a lease of twice the hub's answer time): one replica runs it. Each request's id
is the action's id, so a repeated run (a replica killed between the request and marking it
done, its lease then run out) is applied once by the hub's durable responder. A hub that
does not answer leaves the action due for the next round.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
from typing import Any, Literal

from baton.bus import Bus
from baton.bus.tracecontext import trace_headers
from baton.db import Database
from baton.errors import BatonError, HandlerError, RemoteError, RequestTimeoutError
from baton.protocol.commands import HubCommand, RecoveryCommand, reply_data, request_data
from baton.protocol.commands.replies import RestoreReply
from baton.protocol.commands.requests import (
    ReasonRequest,
    RecoverTaskRequest,
    RestoreCheckpointRequest,
    RestoreRequest,
)
from baton.protocol.event import Event
from baton.protocol.messages.base import utc_now
from baton_recovery.config import RecoveryConfig
from baton_recovery.failures.plan import Decision
from baton_recovery.store import RecoveryStore

__all__ = ["TRACE_CONTEXT", "Actions", "request_for"]

TRACE_CONTEXT = "trace_context"
"""Key of a stored action's request holding its workflow's trace context: the request to
the hub carries it as headers (not as data), so the action's effects join that trace."""

log = logging.getLogger("baton.recovery")


class Actions:
    """Runs due recovery actions and restores checkpoints through the hub."""

    def __init__(
        self, *, bus: Bus, db: Database, store: RecoveryStore, config: RecoveryConfig
    ) -> None:
        self.bus = bus
        self.db = db
        self.store = store
        self.config = config
        self.claimant = f"{socket.gethostname()}:{os.getpid()}"
        """Who holds the actions this replica runs (the host and process, for the reader)."""
        # A run takes at most the hub's answer time (its retries included); twice that and
        # a margin, so a slow database round trip never lets another replica start it too.
        self.lease_seconds = 2 * config.action_timeout + 5

    async def run_due(self, *, most: int = 50) -> int:
        """Claim and run due recovery actions one by one, at most ``most``; how many ran."""
        ran = 0
        while ran < most:
            async with self.db.connection() as conn:
                row = await self.store.claim_due(
                    conn, now=utc_now(), claimant=self.claimant, lease_seconds=self.lease_seconds
                )
            if row is None:
                break
            ran += 1
            action_id = row["action_id"]
            outcome = await self._execute(row["workflow_id"], action_id, row["request"])
            async with self.db.connection() as conn:
                if outcome is None:  # the hub did not answer: the next round tries, same id
                    await self.store.release_action(
                        conn, action_id=action_id, claimant=self.claimant
                    )
                    break
                await self.store.finish_action(conn, action_id=action_id, outcome=outcome)
        return ran

    async def wait_seconds(self, *, now: datetime, longest: float) -> float:
        """Seconds until the next recovery action is due, at most ``longest`` (0: one is).

        The watchdog loop sleeps this long, so an action runs when its backoff ends rather
        than up to a whole check interval later; the due time itself is in PostgreSQL.
        """
        async with self.db.connection() as conn:
            due = await self.store.next_due(conn)
        if due is None:
            return longest
        return min(longest, max(0.0, (due - now).total_seconds()))

    async def _execute(
        self, workflow_id: str, action_id: str, request: dict[str, Any]
    ) -> dict[str, Any] | None:
        command = str(request.get("command"))
        trace = trace_headers(request.get(TRACE_CONTEXT) or {})
        data = {k: v for k, v in request.items() if k not in {"command", TRACE_CONTEXT}}
        try:
            if command == RecoveryCommand.RESTORE:
                restored = await self.restore(
                    workflow_id=workflow_id,
                    checkpoint_id=str(data["checkpoint_id"]),
                    request_id=action_id,
                    trace=trace,
                )
                return reply_data(restored)
            reply = await self.bus.request(
                Event(
                    event_type=command,
                    workflow_id=workflow_id,
                    phase="recovery",
                    data=data,
                    request_id=action_id,
                    extra_headers=trace,
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
        self,
        *,
        workflow_id: str,
        checkpoint_id: str,
        request_id: str | None = None,
        trace: tuple[tuple[str, bytes], ...] = (),
    ) -> RestoreReply:
        """Rebuild a checkpoint (every hash verified) and have the hub restore it (``trace``:
        the workflow's trace headers, when not running in that trace already).

        Raises:
            HandlerError: no such checkpoint for the workflow.
            CorruptCheckpointError: the stored checkpoint fails its hash check.
            RemoteError: the hub refused (e.g. the workflow was cancelled).
        """
        async with self.db.connection() as conn:
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
                event_type=HubCommand.RESTORE_CHECKPOINT,
                workflow_id=workflow_id,
                phase="recovery",
                data=request_data(
                    RestoreCheckpointRequest(checkpoint_id=checkpoint_id, snapshot=state)
                ),
                request_id=request_id or f"restore_{checkpoint_id}_{utc_now().timestamp():.0f}",
                extra_headers=trace,
            ),
            service="hub",
            timeout=self.config.action_timeout,
        )
        return RestoreReply(
            ok=True,
            checkpoint_id=checkpoint_id,
            state_version_restored=row.state_version,
            verified_hash=row.state_hash,
            reply=reply.data,
        )


def request_for(decision: Decision, *, task_id: str, agent: str | None) -> dict[str, Any]:
    if decision.kind == "restore" and decision.checkpoint_id is not None:
        restore = RestoreRequest(checkpoint_id=decision.checkpoint_id)
        return {"command": RecoveryCommand.RESTORE, **request_data(restore)}
    if decision.kind == "escalate":
        pause = ReasonRequest(reason=f"escalation: {decision.reason}")
        return {"command": HubCommand.PAUSE, **request_data(pause)}
    action: Literal["retry", "reassign", "skip", "fail"] = "fail"
    if decision.kind in ("retry", "reassign", "skip"):
        action = decision.kind
    avoid = list(decision.avoid_agents)
    if action == "reassign" and agent is not None and agent not in avoid:
        avoid.append(agent)
    recover = RecoverTaskRequest(
        task_id=task_id, action=action, avoid_agents=avoid, reason=decision.reason
    )
    return {"command": HubCommand.RECOVER_TASK, **request_data(recover)}

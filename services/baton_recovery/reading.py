"""What workflow-recovery reads from the events topic, a batch at a time, as steps.

Recovery reads one list of events per fetch (every partition's, joined: one transaction per
fetch). Most of it is applied a kind at a time — checkpoint requests stored together, the
watchdog's signs of life and watch changes as a few statements
(:mod:`~baton_recovery.failures.signs`) — and failures one by one, in their place: a
failure's decision reads the breaker its agent's report just fed and the latest checkpoint
stored before it, so the steps keep the events' order around it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from baton.errors import HandlerError
from baton.protocol.event import Event
from baton_recovery.checkpoints.writer import CheckpointRequest
from baton_recovery.failures.signs import ENDED, WATCHED, Signs

__all__ = [
    "CHECKPOINT_REQUESTED",
    "FAILURES",
    "RECOVERY_REQUESTED",
    "WORKFLOW_FAILED",
    "Stored",
    "checkpoint_request",
    "steps",
]

CHECKPOINT_REQUESTED: Final = "CHECKPOINT_REQUESTED"
RECOVERY_REQUESTED: Final = "RECOVERY_REQUESTED"
WORKFLOW_FAILED: Final = "WORKFLOW_FAILED"
FAILURES: Final = frozenset({RECOVERY_REQUESTED, WORKFLOW_FAILED})
"""Failures, each decided and reported on its own."""


@dataclass(slots=True)
class Stored:
    """Events between two failures: applied a kind at a time.

    Attributes:
        checkpoints: Checkpoint requests, with what each asks to store, in order.
        signs: What the watchdog reads of the events.
        ended: Workflows that completed or were cancelled (their states are forgotten).
    """

    checkpoints: list[tuple[Event, CheckpointRequest]] = field(default_factory=list)
    signs: Signs = field(default_factory=Signs)
    ended: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.checkpoints or self.signs or self.ended)


def steps(events: Iterable[Event]) -> list[Stored | Event]:
    """``events`` as steps in order: :class:`Stored` runs, and failures alone (an event of
    :data:`FAILURES`); events recovery does not read are left out.

    Raises:
        HandlerError: a checkpoint request carries no state (never retried).
    """
    out: list[Stored | Event] = []
    current = Stored()
    for event in events:
        kind = event.event_type
        if kind == CHECKPOINT_REQUESTED:
            current.checkpoints.append((event, checkpoint_request(event)))
        elif kind in FAILURES:
            if current:
                out.append(current)
                current = Stored()
            out.append(event)
        elif kind in WATCHED:
            current.signs.read(event)
            if kind in ENDED:
                current.ended.append(event.workflow_id)
    if current:
        out.append(current)
    return out


def checkpoint_request(event: Event) -> CheckpointRequest:
    """What a CHECKPOINT_REQUESTED asks to store.

    Raises:
        HandlerError: it carries no state (``data.snapshot``), never retried.
    """
    data = event.data
    snapshot = data.get("snapshot")
    if not isinstance(snapshot, dict):
        raise HandlerError(
            "CHECKPOINT_REQUESTED carries no data.snapshot (the state to keep)",
            retriable=False,
            part="data.snapshot",
        )
    return CheckpointRequest(
        workflow_id=event.workflow_id,
        checkpoint_id=str(data.get("checkpoint_id") or f"ckpt_{event.event_id}"),
        checkpoint_type=str(data.get("checkpoint_type") or "manual"),
        trigger=str(data.get("trigger") or "requested"),
        state_version=int(data.get("state_version") or snapshot.get("state_version") or 0),
        state=snapshot,
        decoded=True,  # every event reaches a handler decoded from its record's bytes
    )

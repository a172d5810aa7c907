"""``workflow-status WF --subscribe``: one workflow's events as they happen, one JSON a line.

The helper command names the kinds ``state_change``, ``checkpoint`` and ``error``; ``resource`` and
``all`` are added. The shell splits ``--events=["state_change", "checkpoint", "error"]``
into several words; they are joined again, so the protocol's line works as written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

import orjson
import typer

from baton.bus.tail import tail
from baton.cli.common import EXIT, run
from baton.cli.remote import session
from baton.errors import ProtocolError
from baton.protocol.routing import Pattern

__all__ = ["KINDS", "categories", "parse_kinds", "subscribe"]

KINDS: Final = ("state_change", "checkpoint", "error", "resource", "all")
_END: Final = frozenset({"WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "WORKFLOW_CANCELLED"})


def categories(event_type: str) -> set[str]:
    """The kinds an event type belongs to."""
    kinds = {"all"}
    if event_type.startswith(("WORKFLOW_", "PHASE_", "TASK_")):
        kinds.add("state_change")
    if event_type.startswith("CHECKPOINT_"):
        kinds.add("checkpoint")
    if event_type.startswith(("ERROR_", "RECOVERY_", "ESCALATION_")) or event_type.endswith(
        ("_FAILED", "_TIMEOUT", "_BLOCKED")
    ):
        kinds.add("error")
    if event_type.startswith(("RESOURCE_", "AGENT_")):
        kinds.add("resource")
    return kinds


def parse_kinds(words: Sequence[str]) -> set[str]:
    """``["state_change", "error"]``, ``state_change,error`` or the shell's split pieces.

    Raises:
        ProtocolError: an unknown kind.
    """
    text = " ".join(words)
    names = {w.strip(" []\"'") for w in text.replace(",", " ").split()} - {""}
    unknown = sorted(names - set(KINDS))
    if unknown:
        raise ProtocolError(
            f"unknown event kinds {unknown}; known: {', '.join(KINDS)}", part="--events"
        )
    return names or {"all"}


def subscribe(
    workflow_id: str,
    *,
    kinds: set[str],
    from_beginning: bool,
    max_events: int | None,
    timeout: float | None,
) -> None:
    """Print matching events until the workflow ends, ``max_events`` or ``timeout``.

    Exits 0, or 124 when ``timeout`` passed before ``max_events`` (like ``events tail``).
    """
    pattern = Pattern("#")  # every event; filtered by workflow id and kind below

    async def main() -> int:
        seen = 0
        async with session(timeout=30.0, label=f"subscribing to {workflow_id}") as s:
            bus = s.bus
            await bus.require_topics([bus.topics.events])
            try:
                async with asyncio.timeout(timeout):
                    async for item in tail(
                        transport=bus.transport,
                        topic=bus.topics.events,
                        pattern=pattern,
                        from_beginning=from_beginning,
                        max_bytes=bus.settings.max_line_bytes,
                    ):
                        event = item.event
                        if event is None or event.workflow_id != workflow_id:
                            continue
                        matched = categories(event.event_type) & kinds
                        if not matched:
                            continue
                        _line(event.event_type, event, sorted(matched))
                        seen += 1
                        if event.event_type in _END or (
                            max_events is not None and seen >= max_events
                        ):
                            return EXIT.OK
            except TimeoutError:
                return EXIT.TIMEOUT if max_events is not None else EXIT.OK
        return EXIT.OK

    raise typer.Exit(run(main))


def _line(kind: str, event: Any, matched: list[str]) -> None:
    doc = {
        "event_type": kind,
        "workflow_id": event.workflow_id,
        "phase": event.phase,
        "data": event.data,
        "event_id": event.event_id,
        "timestamp": event.timestamp.isoformat(),
        "routing_key": event.routing_key,
        "kinds": matched,
    }
    print(orjson.dumps(doc).decode(), flush=True)

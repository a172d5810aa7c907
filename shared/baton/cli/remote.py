"""Calling a service from the CLI: one request, JSON in and out, exit codes that tell."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import typer

from baton.bus import Bus
from baton.cli.common import EXIT, emit, fail, run, settings
from baton.errors import ProtocolError, RequestTimeoutError
from baton.protocol.event import Event

__all__ = ["call", "parse_json_arg", "unknown_helper"]


def parse_json_arg(text: str, *, what: str) -> Any:
    """Parse a JSON argument; bad JSON exits 2 naming the argument and position."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise fail(ProtocolError(f"not valid JSON: {exc}", part=what)) from None


def unknown_helper(message: str) -> typer.Exit:
    """Exit 127: the helper operation does not exist (seed 000's convention)."""
    typer.echo(orjson.dumps({"error": "UnknownHelper", "message": message}).decode(), err=True)
    return typer.Exit(EXIT.UNKNOWN_HELPER)


def call(
    *,
    service: str,
    event_type: str,
    workflow_id: str,
    data: dict[str, Any],
    timeout: float,
    phase: str = "cli",
    wait: Any = None,
) -> dict[str, Any]:
    """Send one request to ``service``, print the reply as JSON, return it.

    ``wait`` is an optional ``async (bus, reply) -> reply`` run before printing (e.g. to wait
    for a workflow to leave CREATED). Error replies exit 1, timeouts 124, bad input 2.
    """
    config = settings()

    async def main() -> dict[str, Any]:
        try:
            async with asyncio.timeout(timeout + 5), Bus(settings=config) as bus:
                request = Event(
                    event_type=event_type, workflow_id=workflow_id, phase=phase, data=data
                )
                reply = await bus.request(request, service=service, timeout=timeout)
                result: dict[str, Any] = reply.data
                if wait is not None:
                    result = await wait(bus, result)
                return result
        except TimeoutError:
            raise RequestTimeoutError(f"{service} did not answer within {timeout:g}s") from None

    result = run(main)
    emit(result)
    return result

"""Calling services from the CLI: one deadline, retries, JSON in and out, exit codes.

A command opens a :func:`session` (a bus connection made with retries) and asks one or more
services through it. Every request keeps its request id across retries, so the service
applies it once (the hub and the resource manager store replies by request id in
PostgreSQL; the others answer reads).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic import ValidationError

from baton.backoff import retry
from baton.bus import Bus
from baton.bus.rpc import new_request_id
from baton.cli.common import emit, run, settings
from baton.cli.jsonin import json_arg
from baton.cli.progress import Status, spinner
from baton.config import BatonSettings
from baton.errors import BatonError, RequestTimeoutError
from baton.protocol.commands import CommandReply, parse_reply
from baton.protocol.event import Event
from baton.protocol.invalid import bad_input

__all__ = ["Session", "call", "parse_json_arg", "read_reply", "remote", "session"]

R = TypeVar("R", bound=CommandReply)

# Grace past the command's timeout for closing the connection before the guard fires.
_CLOSE_GRACE = 5.0


class Session:
    """A connected bus and the command's deadline, shared by all of its requests."""

    def __init__(self, *, bus: Bus, deadline: float, status: Status) -> None:
        self.bus = bus
        self.deadline = deadline
        self.status = status

    def remaining(self) -> float:
        """Seconds left before the command's timeout."""
        return max(0.0, self.deadline - asyncio.get_running_loop().time())

    async def ask(
        self,
        *,
        service: str,
        event_type: str,
        workflow_id: str,
        data: dict[str, Any],
        request_id: str | None = None,
        phase: str = "cli",
    ) -> dict[str, Any]:
        """One request; transient failures are retried with backoff under the same id.

        A ``request_id`` the caller chose (the helper request envelope) is echoed in the result, as
        the service's reply carries it.
        """
        request = Event(
            event_type=event_type,
            workflow_id=workflow_id,
            phase=phase,
            data=data,
            request_id=request_id or new_request_id(),
        )

        async def once(remaining: float) -> dict[str, Any]:
            reply = await self.bus.request(request, service=service, timeout=remaining)
            result: dict[str, Any] = reply.data
            if request_id is not None:
                result = {"request_id": reply.request_id, **result}
            return result

        def retrying(attempt: int, error: BatonError, delay: float) -> None:
            self.status.update(f"{service}: {error.message} — retry {attempt} in {delay:.1f}s")

        self.status.update(f"asking {service} ({event_type})")
        return await retry(
            once,
            timeout=self.remaining(),
            what=f"{service} {event_type}",
            on_retry=retrying,
        )


async def _connect(config: BatonSettings, timeout: float) -> Bus:
    async def once(remaining: float) -> Bus:
        bus = Bus(settings=config)
        try:
            await bus.start()
        except BaseException:
            await bus.stop()
            raise
        return bus

    return await retry(once, timeout=timeout, what="connecting to Kafka")


@asynccontextmanager
async def session(*, timeout: float, label: str) -> AsyncIterator[Session]:
    """A bus connection (retried until ``timeout``) and a spinner with ``label``."""
    config = settings()
    deadline = asyncio.get_running_loop().time() + timeout
    with spinner(label) as status:
        bus = await _connect(config, timeout)
        try:
            yield Session(bus=bus, deadline=deadline, status=status)
        finally:
            await bus.stop()


def remote(
    work: Callable[[Session], Awaitable[Any]], *, timeout: float, label: str, output: bool = True
) -> Any:
    """Run ``work`` in a session, print its result as one JSON document, exit by outcome.

    Error replies exit 1, bad input 2, timeouts (of the whole command) 124.
    """

    async def main() -> Any:
        try:
            async with asyncio.timeout(timeout + _CLOSE_GRACE):
                async with session(timeout=timeout, label=label) as s:
                    return await work(s)
        except TimeoutError:
            raise RequestTimeoutError(f"{label}: no answer within {timeout:g}s") from None

    result = run(main)
    if output:
        emit(result)
    return result


def call(
    *,
    service: str,
    event_type: str,
    workflow_id: str,
    data: dict[str, Any],
    timeout: float,
    phase: str = "cli",
    request_id: str | None = None,
    wait: Callable[[Session, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Send one request to ``service``, print the reply as JSON, return it.

    ``wait`` is an optional ``async (session, reply) -> reply`` run before printing (e.g. to
    wait for a workflow to leave CREATED).
    """

    async def work(s: Session) -> dict[str, Any]:
        result = await s.ask(
            service=service,
            event_type=event_type,
            workflow_id=workflow_id,
            data=data,
            request_id=request_id,
            phase=phase,
        )
        return result if wait is None else await wait(s, result)

    result: dict[str, Any] = remote(work, timeout=timeout, label=f"{service} {event_type}")
    return result


def read_reply(model: type[R], reply: Mapping[str, Any], *, service: str) -> R:
    """``reply`` as :meth:`Session.ask` returned it, read through its command's model (the
    caller's echoed ``request_id`` is not part of the service's reply).

    Raises:
        BatonError: the reply does not fit the model (exit 1: the service's answer is at
            fault, not the caller's input); the wrong fields are named under ``problems``.
    """
    body = {k: v for k, v in reply.items() if k != "request_id"}
    try:
        return parse_reply(model, body)
    except ValidationError as exc:
        found = bad_input(exc, root="reply")
        raise BatonError(
            f"{service}'s reply does not fit {model.__name__}: {found.message}",
            service=service,
            problems=found.fields.get("problems"),
        ) from None


def parse_json_arg(text: str, *, what: str) -> Any:
    """A JSON argument's value (``-`` reads stdin); bad JSON exits 2."""
    return json_arg(text, what=what).value

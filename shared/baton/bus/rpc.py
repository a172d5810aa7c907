"""Request-response over Kafka (the protocol's request-response pattern).

A request is an ordinary event line sent to ``<prefix>.commands.<service>`` with headers
``baton-request-id``, ``baton-correlation-id`` and ``baton-reply-to``. The responder answers
on the reply topic with the same request and correlation ids and ``baton-status: ok|error``.

The requester resends the *same* request id when a reply is late, each wait window twice as
long as the last (with ±10 % jitter), until the overall timeout. The responder remembers the
reply of every request id it answered (an LRU with a time to live) and sends that reply
again for a repeat, so a request is applied once however often it is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from baton.backoff import BackoffPolicy
from baton.bus.transport import Transport, TransportConsumer
from baton.errors import BatonError, DependencyUnavailableError, ErrorReply, ProtocolError
from baton.expiring import ExpiringCache
from baton.protocol.commands import reply_type
from baton.protocol.commands.requests import checked_request
from baton.protocol.event import Event, decode_record
from baton.protocol.headers import H, get_header
from baton.protocol.invalid import bad_input

if TYPE_CHECKING:
    from baton.security.signing_middleware import SigningMiddleware

__all__ = ["ReplyCache", "Requester", "Responder", "answer", "new_request_id", "wait_windows"]

log = logging.getLogger("baton.bus.rpc")

Responder = Callable[[Event], Awaitable[Event | dict[str, Any]]]
"""Answers a request with a reply event, or with the data of a ``<TYPE>_REPLY`` event."""


def new_request_id() -> str:
    """A request id in the protocol's form, ``req_<uuid>``."""
    return f"req_{uuid.uuid4().hex}"


def wait_windows(total: float, attempts: int) -> list[float]:
    """Per-attempt waits that double each time and add up to ``total``, with ±10 % jitter."""
    first = total / (2.0**attempts - 1)  # 1 + 2 + ... + 2^(n-1) = 2^n - 1
    policy = BackoffPolicy(
        base=first, max_delay=total, max_attempts=None, jitter="proportional", spread=0.1
    )
    return list(itertools.islice(policy.waits(), attempts))


class ReplyCache(ExpiringCache[Event]):
    """Replies already sent, by request id, so repeats are answered and not re-applied.

    Args:
        size: Most replies kept.
        ttl: Seconds a reply is kept.
    """

    def __init__(
        self, *, size: int = 10_000, ttl: float = 600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(size=size, ttl=ttl, clock=clock)


class Requester:
    """Reads the reply topic (every partition, from its end) and completes waiting requests.

    With message signing on, a reply that fails verification is logged and ignored: the
    request waits on for a genuine one (or times out).
    """

    def __init__(
        self,
        *,
        transport: Transport,
        topic: str,
        max_bytes: int,
        client_id: str,
        signing: SigningMiddleware | None = None,
    ) -> None:
        self._consumer: TransportConsumer = transport.consumer(
            group=None, topics=[topic], from_beginning=False, client_id=f"{client_id}.replies"
        )
        self._max_bytes = max_bytes
        self._signing = signing
        self._pending: dict[str, asyncio.Future[tuple[Event, str]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            await self._consumer.start()
            self._task = asyncio.create_task(self._run(), name="baton-replies")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._consumer.stop()
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    def expect(self, request_id: str) -> asyncio.Future[tuple[Event, str]]:
        """A future for the reply to ``request_id``: the reply event and its status."""
        future: asyncio.Future[tuple[Event, str]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return future

    def forget(self, request_id: str) -> None:
        self._pending.pop(request_id, None)

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.fetch(timeout_ms=200, max_records=500)
            for records in batch.values():
                for record in records:
                    request_id = get_header(record.headers, H.REQUEST_ID)
                    future = self._pending.get(request_id or "")
                    if future is None or future.done():
                        continue  # someone else's reply, or a repeat of one already read
                    status = get_header(record.headers, H.STATUS) or "ok"
                    try:
                        reply = decode_record(
                            record.value, record.headers, max_bytes=self._max_bytes
                        )
                        if self._signing is not None:
                            try:
                                self._signing.verify(record, event_type=reply.event_type)
                            except ProtocolError as exc:
                                log.warning("ignored a reply to %s: %s", request_id, exc)
                                continue
                        future.set_result((reply, status))
                    except ProtocolError as exc:
                        log.warning("malformed reply to %s: %s", request_id, exc)
                        future.set_exception(exc)


async def answer(request: Event, responder: Responder) -> Event:
    """``responder``'s reply to ``request``, as the reply event (an error becomes an
    ``error`` reply; an outage is raised, so that the consumer waits it out)."""
    status = b"ok"
    try:
        # The command's contract is checked here, before any handler: a wrong field is the
        # caller's mistake, refused by name below, never half applied.
        with checked_request(request):  # the handler gets the model read here
            result = await responder(request)
    except ErrorReply as exc:
        status, result = b"error", exc.payload
    except DependencyUnavailableError:
        raise  # not the request's fault: the consumer waits for the dependency, then answers
    except BatonError as exc:
        status, result = b"error", exc.to_reply()
    except ValidationError as exc:  # the request's data failed a model: the caller's mistake
        refused = bad_input(exc, root="data")
        log.info("refused %s %s: %s", request.event_type, request.request_id, refused.message)
        status, result = b"error", refused.to_reply()
    except Exception as exc:
        log.exception("responder failed on %s", request.request_id)
        status, result = (
            b"error",
            {"error": type(exc).__name__, "message": str(exc), "retriable": True},
        )
    if isinstance(result, Event):
        reply = result
    else:
        reply = Event(
            event_type=reply_type(request.event_type),
            workflow_id=request.workflow_id,
            phase=request.phase,
            data=result,
        )
    return reply.replace(
        request_id=request.request_id,
        correlation_id=request.correlation_id or request.request_id,
        extra_headers=(*reply.extra_headers, (H.STATUS, status)),
    )

"""Request-response over a bus: a service answers requests on its commands topic, a
client sends one and waits for the reply on the replies topic (retried within the timeout;
a repeated request is answered again, never applied twice)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from baton.bus.rpc import ReplyCache, Requester, Responder, answer, new_request_id, wait_windows
from baton.bus.subscription import Subscription
from baton.errors import HandlerError, RemoteError, RequestTimeoutError
from baton.protocol.event import Event

if TYPE_CHECKING:
    from baton.bus.bus import Bus

__all__ = ["Requests"]


class Requests:
    """The request-response side of one bus (:meth:`Bus.serve`, :meth:`Bus.request`)."""

    def __init__(self, *, bus: Bus) -> None:
        self._bus = bus
        self._requester: asyncio.Future[Requester] | None = None

    async def stop(self) -> None:
        """Stop the reply reader, if one started. Safe to call twice."""
        starting, self._requester = self._requester, None
        if starting is not None:
            with contextlib.suppress(Exception):
                await (await starting).stop()

    def serve(
        self, service: str, responder: Responder, *, group: str | None, durable: bool
    ) -> Subscription:
        """:meth:`Bus.serve`."""
        cache = ReplyCache(size=1_000, ttl=120.0) if durable else ReplyCache()

        async def handle(request: Event) -> None:
            if not request.request_id:
                raise HandlerError("a request needs the baton-request-id header", retriable=False)
            reply = cache.get(request.request_id)
            if reply is None:
                reply = await answer(request, responder)
                cache.put(request.request_id, reply)
            else:
                self._bus.stats["duplicate_requests"] += 1
            await self._bus.send(reply, topic=request.reply_to or self._bus.topics.replies)

        return self._bus.subscribe(
            "#",
            handle,
            group=group or f"{self._bus.topics.prefix}.{service}.rpc",
            topic=self._bus.topics.commands(service),
            name=f"serve:{service}",
        )

    async def _reply_reader(self) -> Requester:
        """The reply reader, started once: concurrent first requests all wait for it to be
        positioned, or a reply sent meanwhile would fall before its starting offset."""
        if self._requester is None:
            self._requester = asyncio.ensure_future(self._start_reply_reader())
        starting = self._requester
        try:
            return await asyncio.shield(starting)
        except Exception:
            if self._requester is starting:
                self._requester = None  # the next request tries again
            raise

    async def _start_reply_reader(self) -> Requester:
        requester = Requester(
            transport=self._bus.transport,
            topic=self._bus.topics.replies,
            max_bytes=self._bus.settings.max_line_bytes,
            client_id=self._bus.settings.component,
            signing=self._bus.signing,
        )
        await requester.start()
        return requester

    async def request(
        self, event: Event | str, *, service: str, timeout: float | None, attempts: int | None
    ) -> Event:
        """:meth:`Bus.request`."""
        sent = (
            event
            if isinstance(event, Event)
            else Event.parse(event, max_bytes=self._bus.settings.max_line_bytes)
        )
        requester = await self._reply_reader()
        request_id = sent.request_id or new_request_id()
        request = sent.replace(
            request_id=request_id,
            correlation_id=sent.correlation_id or request_id,
            reply_to=self._bus.topics.replies,
        )
        total = timeout if timeout is not None else self._bus.settings.request_timeout
        tries = attempts if attempts is not None else self._bus.settings.request_attempts
        loop = asyncio.get_running_loop()
        deadline = loop.time() + total
        future = requester.expect(request_id)
        reply: Event | None = None
        status = ""
        try:
            for window in wait_windows(total, tries):
                await self._bus.publish(request, topic=self._bus.topics.commands(service))
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    reply, status = await asyncio.wait_for(
                        asyncio.shield(future), min(window, remaining)
                    )
                    break
                except TimeoutError:
                    self._bus.stats["request_retries"] += 1
                    continue
        finally:
            requester.forget(request_id)
        if reply is None:
            raise RequestTimeoutError(
                f"no reply from {service} to {request_id} within {total:g}s ({tries} attempts)",
                service=service,
                request_id=request_id,
            )
        if status == "error":
            raise RemoteError(str(reply.data.get("message", "error response")), error=reply.data)
        return reply

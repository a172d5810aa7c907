"""Server-sent events: every change of a workflow, and the overview now and then."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from baton.errors import BatonError

__all__ = ["Broadcaster", "StreamFullError"]

_Queue = asyncio.Queue[tuple[str, Any] | None]


class StreamFullError(BatonError):
    """Every place on the live stream is taken (``BATON_STATUS_STREAM_CLIENTS``)."""

    retriable = True


class Broadcaster:
    """Fans messages out to every connected client; a slow client loses old messages.

    Args:
        backlog: Messages kept per client before the oldest are dropped.
        max_clients: Most clients at once; None: no limit.
    """

    def __init__(self, *, backlog: int = 1000, max_clients: int | None = None) -> None:
        self._clients: set[_Queue] = set()
        self._backlog = backlog
        self._max_clients = max_clients
        self._closed = False

    @property
    def clients(self) -> int:
        return len(self._clients)

    def join(self) -> _Queue:
        """Take a place for one client now, before its response starts (so that the limit
        holds however many requests arrive together); :meth:`messages` streams to it.

        Raises:
            StreamFullError: ``max_clients`` clients are connected.
        """
        if self._max_clients is not None and len(self._clients) >= self._max_clients:
            raise StreamFullError(
                f"the live stream has its {self._max_clients} clients; try again later",
                max_clients=self._max_clients,
            )
        queue: _Queue = asyncio.Queue(self._backlog)
        self._clients.add(queue)
        return queue

    def leave(self, queue: _Queue) -> None:
        """Give a client's place back (again is no error)."""
        self._clients.discard(queue)

    def publish(self, kind: str, payload: Any) -> None:
        """Queue ``payload`` (JSON-ready) as an SSE message of type ``kind`` for everyone."""
        for queue in self._clients:
            _put(queue, (kind, payload))

    def close(self) -> None:
        """End every client's stream, and any opened later (the service is stopping: a
        stream never ends by itself, and the HTTP server waits for open responses)."""
        self._closed = True
        for queue in self._clients:
            _put(queue, None)

    async def messages(
        self, *, first: list[tuple[str, Any]] | None = None, queue: _Queue | None = None
    ) -> AsyncIterator[bytes]:
        """One client's stream, SSE-encoded, starting with ``first``; keep-alive comments
        every 15 s so proxies keep the connection open. ``queue``: the place :meth:`join`
        took (None: one is taken now, without the limit)."""
        if queue is None:
            queue = asyncio.Queue(self._backlog)
            self._clients.add(queue)
        try:
            for kind, payload in first or []:
                yield _encode(kind, payload)
            while not self._closed:
                try:
                    message = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if message is None:
                    return
                yield _encode(*message)
        finally:
            self._clients.discard(queue)


def _put(queue: _Queue, message: tuple[str, Any] | None) -> None:
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(message)


def _encode(kind: str, payload: Any) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

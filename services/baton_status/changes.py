"""Every replica's live stream shows every change, whichever replica wrote it.

Writers notify the deployment's channel (``LISTEN``/``NOTIFY``) with ``workflow_id version``
in the transaction that changes a view (:meth:`StatusStore.save_views`); PostgreSQL delivers
the notification to every listening connection once, and only once, the transaction
commits. Each replica listens on a connection of its own and, while its stream has
clients, reads the changed workflows' list lines (a burst of changes in one query) and
publishes them as ``workflow`` messages, newest version only, never one older than a
version it already published for that workflow.

A replica whose listening connection is lost reconnects (the runner starts the loop again);
changes committed meanwhile are not replayed, but the overview sent every few seconds
carries every open workflow's line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import OrderedDict
from typing import Any, Final

import asyncpg

from baton.errors import DependencyUnavailableError
from baton_status.reader import Reader
from baton_status.stream import Broadcaster

__all__ = ["Changes", "channel"]

_MAX_CHANNEL: Final = 63
"""PostgreSQL's longest identifier (a longer channel name would be cut)."""
_PUBLISHED: Final = 10_000
"""Workflows whose last published version a replica remembers."""


def channel(prefix: str) -> str:
    """The notification channel of the deployment with topic prefix ``prefix``."""
    name = f"baton_status.{prefix}"
    if len(name.encode()) <= _MAX_CHANNEL:
        return name
    return "baton_status." + hashlib.sha256(prefix.encode()).hexdigest()[:32]


class Changes:
    """Listens for committed changes and feeds them to the live stream (module doc).

    Args:
        dsn: The database to listen on.
        channel: The deployment's channel (:func:`channel`).
        reader: Reads the changed workflows' lines.
        stream: Where they go.
        keepalive: Seconds between checks that the listening connection still works.
    """

    def __init__(
        self,
        *,
        dsn: str,
        channel: str,
        reader: Reader,
        stream: Broadcaster,
        keepalive: float = 10.0,
    ) -> None:
        self.dsn = dsn
        self.channel = channel
        self.reader = reader
        self.stream = stream
        self.keepalive = keepalive
        self._conn: Any = None
        self._lost = asyncio.Event()
        self._pending: dict[str, int] = {}
        self._woken = asyncio.Event()
        self._published: OrderedDict[str, int] = OrderedDict()
        self._stopped = False

    @property
    def listening(self) -> bool:
        """True while the listening connection is open."""
        return self._conn is not None and not self._conn.is_closed()

    async def connect(self) -> None:
        """Open the listening connection and ``LISTEN`` (at start, and again after a loss).

        Raises:
            DependencyUnavailableError: PostgreSQL cannot be reached.
        """
        await self.close()
        self._lost = asyncio.Event()
        try:
            conn = await asyncpg.connect(self.dsn)
            conn.add_termination_listener(lambda _conn: self._lost.set())
            await conn.add_listener(self.channel, self._heard)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DependencyUnavailableError(
                f"cannot listen for status changes: {type(exc).__name__}: {exc}"
            ) from exc
        self._conn = conn

    async def close(self) -> None:
        """Close the listening connection. Safe to call twice."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5.0)

    async def stop(self) -> None:
        """Stop listening for good (the service is stopping): :meth:`run` returns."""
        self._stopped = True
        await self.close()

    async def run(self) -> None:
        """Listen and publish until cancelled or stopped; raises when the connection is
        lost (the runner then starts it again, which reconnects)."""
        if self._stopped:
            return
        if not self.listening:
            await self.connect()
        publishing = asyncio.create_task(self._publish_forever(), name="status-changes")
        try:
            while not publishing.done():
                try:
                    await asyncio.wait_for(self._lost.wait(), self.keepalive)
                except TimeoutError:
                    await self._check()
                    continue
                if self._stopped:
                    return
                raise DependencyUnavailableError("lost the connection listening for changes")
            publishing.result()  # raises why publishing stopped
        finally:
            publishing.cancel()
            # Gathered, not awaited under a blanket suppress: a cancellation of this task
            # that comes meanwhile must go on, not be swallowed with the publisher's.
            await asyncio.gather(publishing, return_exceptions=True)
            await self.close()

    async def _check(self) -> None:
        try:
            await asyncio.wait_for(self._conn.fetchval("select 1"), self.keepalive)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DependencyUnavailableError(
                f"the connection listening for changes does not answer: {exc!r}"
            ) from exc

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if not self.stream.clients:
            return  # nobody watches: nothing to read
        workflow_id, _, version = payload.rpartition(" ")
        try:
            number = int(version)
        except ValueError:
            return  # not ours
        if number > self._pending.get(workflow_id, 0):
            self._pending[workflow_id] = number
        self._woken.set()

    async def _publish_forever(self) -> None:
        while True:
            await self._woken.wait()
            self._woken.clear()
            pending, self._pending = self._pending, {}
            if pending and self.stream.clients:
                await self.publish(pending)

    async def publish(self, versions: dict[str, int]) -> None:
        """Publish the current lines of the workflows in ``versions`` (workflow id → a
        version that changed), skipping what this stream already showed."""
        found = await self.reader.summaries(list(versions))
        for version, line in sorted(found, key=lambda pair: pair[0]):
            workflow_id = line["workflow_id"]
            last = self._published.get(workflow_id)
            if last is not None and last >= version:
                continue
            self._published[workflow_id] = version
            self._published.move_to_end(workflow_id)
            while len(self._published) > _PUBLISHED:
                self._published.popitem(last=False)
            self.stream.publish("workflow", line)

"""BatonClient: publish, subscribe, ask services, and follow workflows, over one bus.

Usage::

    async with BatonClient.from_env(component="my-tool") as client:
        created = await client.create_workflow(definition, timeout=30)
        final = await client.wait_for_workflow(created["workflow_id"], timeout=600)

Settings: ``BatonClient(component=...)`` uses the defaults (the local stack);
:meth:`BatonClient.from_env` reads the ``BATON_*`` variables. Only that constructor looks at
the environment, so a program builds its settings once, at its edge.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from opentelemetry.trace import TracerProvider

from baton.bus import Ack, Bus, Handler, StartAt, Subscription, TracingMiddleware
from baton.bus.transport import Transport
from baton.client._shared import BorrowedTransport
from baton.client.errors import ClientError
from baton.client.workflows import WorkflowCalls
from baton.config import BatonSettings
from baton.errors import ConfigError, ProtocolError
from baton.lifecycle import Lifecycle
from baton.protocol.event import Event

__all__ = ["BatonClient"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class BatonClient(WorkflowCalls, Lifecycle):
    """An async client of a Baton deployment.

    Args:
        component: This program's name in event headers, dead letters and consumer groups.
        settings: Deployment settings; defaults to the local stack's (see :meth:`from_env`).
        transport: Broker transport (e.g. ``MemoryTransport`` in tests); defaults to Kafka.
        tracer_provider: Spans go there (default: the global provider, once an SDK one is
            installed). Without one the client makes no spans but passes trace context on:
            what a handler publishes stays in the trace of the event it handles.

    Raises:
        ConfigError: ``component`` is not a valid name (``[A-Za-z0-9_.-]{1,128}``).
    """

    def __init__(
        self,
        *,
        component: str,
        settings: BatonSettings | None = None,
        transport: Transport | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        base = settings if settings is not None else BatonSettings()
        if not _NAME.match(component):
            raise ConfigError(
                f"component {component!r} is not a name ([A-Za-z0-9_.-]{{1,128}})",
                variable="BATON_COMPONENT",
            )
        # A copy, not a re-validation: secrets and derived values stay as they were given.
        self.settings = base.model_copy(update={"component": component})
        self.component = component
        self._tracer = (
            None if tracer_provider is None else tracer_provider.get_tracer("baton.client")
        )
        self.bus = Bus(settings=self.settings, transport=transport, middleware=self._middleware())
        self._late: dict[str, Bus] = {}
        self._groups: set[str] = set()
        self._started = False

    @classmethod
    def from_env(
        cls,
        *,
        component: str,
        env: Mapping[str, str] | None = None,
        transport: Transport | None = None,
    ) -> BatonClient:
        """A client configured from ``BATON_*`` variables (``os.environ`` by default).

        Raises:
            ConfigError: a variable is invalid; the message names it.
        """
        settings = BatonSettings.from_env(os.environ if env is None else env)
        return cls(component=component, settings=settings, transport=transport)

    def _middleware(self) -> list[TracingMiddleware]:
        return [TracingMiddleware(tracer=self._tracer)]

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._started

    async def start(self) -> None:
        """Connect and start the consumer groups subscribed so far. Idempotent."""
        if self._started:
            return
        await self.bus.start()
        self._started = True

    async def stop(self) -> None:
        """Commit what subscribers handled, then disconnect. Safe to call twice."""
        if not self._started:
            return
        self._started = False
        late, self._late = self._late, {}
        for bus in late.values():
            await bus.stop()
        await self.bus.stop()

    async def wait_crashed(self) -> BaseException:
        """Wait until one of the client's consumer loops dies; returns its error."""
        waits = [asyncio.ensure_future(b.wait_crashed()) for b in (self.bus, *self._late.values())]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return next(iter(done)).result()
        finally:
            for wait in waits:
                wait.cancel()

    def _require_started(self, operation: str) -> None:
        if not self._started:
            raise ClientError(
                f"{operation} needs a started client: call start() or use 'async with'",
                component=self.component,
            )

    # -- events ----------------------------------------------------------------------------

    def _event(
        self,
        event: Event | str | None,
        *,
        event_type: str | None,
        workflow_id: str | None,
        phase: str,
        data: Mapping[str, Any] | None,
    ) -> Event | str:
        if event is not None:
            if event_type is not None or workflow_id is not None or data is not None:
                raise ProtocolError(
                    "give an event (or line), or event_type and workflow_id, not both",
                    part="event",
                )
            return event
        if event_type is None or workflow_id is None:
            raise ProtocolError("event_type and workflow_id are required", part="event")
        return Event(
            event_type=event_type, workflow_id=workflow_id, phase=phase, data=dict(data or {})
        )

    async def publish(
        self,
        event: Event | str | None = None,
        /,
        *,
        event_type: str | None = None,
        workflow_id: str | None = None,
        phase: str = "global",
        data: Mapping[str, Any] | None = None,
    ) -> Ack:
        """Publish an event — an :class:`Event`, a wire line, or its parts — and wait for the ack.

        Raises:
            ProtocolError: the event is not valid; nothing was sent.
            ClientError: the client is not started.
        """
        self._require_started("publish")
        ack = await self.send(
            event, event_type=event_type, workflow_id=workflow_id, phase=phase, data=data
        )
        return await ack

    async def send(
        self,
        event: Event | str | None = None,
        /,
        *,
        event_type: str | None = None,
        workflow_id: str | None = None,
        phase: str = "global",
        data: Mapping[str, Any] | None = None,
    ) -> Awaitable[Ack]:
        """Hand an event to the producer, as :meth:`publish`, and return its pending ack.

        Events sent one after the other keep their order (per key), acknowledged or not:
        send several, then await their acks, and they share produce requests instead of
        each waiting for the one before.

        Raises:
            ProtocolError: the event is not valid; nothing was sent.
            ClientError: the client is not started.
        """
        self._require_started("send")
        return await self.bus.send(
            self._event(
                event, event_type=event_type, workflow_id=workflow_id, phase=phase, data=data
            )
        )

    async def subscribe(
        self,
        pattern: str | Sequence[str],
        handler: Handler,
        *,
        group: str | None = None,
        start_at: StartAt = StartAt.EARLIEST,
    ) -> list[Subscription]:
        """Call ``handler`` for each event whose routing key matches ``pattern`` (or any of them).

        Before :meth:`start` the group joins the client's bus; afterwards it gets a bus of
        its own sharing the client's connection, started at once. Handlers run one record at
        a time per partition and the offset is committed after they return, so a handler
        that works long should hand the work on (as :class:`~baton.client.AgentWorker` does).

        Args:
            pattern: ``task.*.assigned``, ``workflow.#``..., or several for one handler.
            handler: Async callable taking the :class:`Event`.
            group: Consumer group; default the client's component. A restarted program
                continues from the group's committed offsets.
            start_at: Where a group new to the broker starts: the oldest record the
                topic holds (``StartAt.EARLIEST``, the default: nothing published before
                the subscription is missed), or only what comes once it holds its
                partitions (``StartAt.LATEST``; see :meth:`wait_assigned`).

        Raises:
            ClientError: the group was already subscribed after start (give all patterns
                of a group in one call then).
        """
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        name = group or self.component
        if not self._started:
            self._groups.add(name)
            return [self.bus.subscribe(p, handler, group=name, start_at=start_at) for p in patterns]
        if name in self._groups or name in self._late:
            raise ClientError(
                f"group {name!r} is already running; subscribe all its patterns in one call",
                component=self.component,
                group=name,
            )
        bus = Bus(
            settings=self.settings,
            transport=BorrowedTransport(self.bus.transport),
            middleware=self._middleware(),
        )
        subs = [bus.subscribe(p, handler, group=name, start_at=start_at) for p in patterns]
        self._late[name] = bus
        await bus.start()
        return subs

    async def wait_assigned(
        self, *, group: str | None = None, timeout: float = 30.0
    ) -> frozenset[int]:
        """Wait until ``group`` (default: the client's component) holds partitions of the
        events topic here and knows where it reads in each; returns them. After this, a
        subscription started at ``StartAt.LATEST`` sees what is published.

        Raises:
            ClientError: the client is not started.
            TimeoutError: nothing was assigned within ``timeout`` seconds.
        """
        self._require_started("wait_assigned")
        name = group or self.component
        bus = self._late.get(name, self.bus)
        return await bus.wait_assigned(group=name, timeout=timeout)

    async def unsubscribe(self, group: str) -> None:
        """Stop a group subscribed after :meth:`start` (its handled offsets are committed).

        Groups that joined before the start stop with the client; for them this does nothing.
        """
        bus = self._late.pop(group, None)
        if bus is not None:
            await bus.stop()

    # -- request-response --------------------------------------------------------------------

    async def request(
        self,
        event: Event | str | None = None,
        /,
        *,
        service: str,
        event_type: str | None = None,
        workflow_id: str | None = None,
        phase: str = "client",
        data: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Event:
        """Ask ``service`` (``hub``, ``resource``, ``status``, ``monitor``, ``recovery``).

        Args:
            timeout: Seconds to wait for the reply, retries included (default
                ``settings.request_timeout``).

        Raises:
            RequestTimeoutError: no reply in time.
            RemoteError: the service answered with an error.
            ProtocolError: the request is not a valid event.
        """
        self._require_started("request")
        request = self._event(
            event, event_type=event_type, workflow_id=workflow_id, phase=phase, data=data
        )
        return await self.bus.request(request, service=service, timeout=timeout)

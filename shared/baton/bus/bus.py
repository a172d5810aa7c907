"""The bus: publish events, subscribe handlers to routing-key patterns, request-response.

Usage::

    async with Bus(settings=settings) as bus:
        bus.subscribe("resource.*.allocated", on_allocated, group="status")
        await bus.publish(Event.parse("RESOURCE_ALLOCATED:wf_001:setup:{'agents':3}"))
        reply = await bus.request(event, service="resource")
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from baton.bus.consumer import GroupConsumer
from baton.bus.kafka import KafkaTransport
from baton.bus.middleware import Middleware, publish_scope
from baton.bus.requests import Requests
from baton.bus.rpc import Responder
from baton.bus.subscription import BATCH_DELIVERIES, BatchHandler, Handler, StartAt, Subscription
from baton.bus.tracing import TracingMiddleware
from baton.bus.transport import Ack, TopicPartition, Transport
from baton.config import BatonSettings, TopicNames
from baton.errors import (
    BatonError,
    MissingTopicError,
)
from baton.lifecycle import Lifecycle
from baton.protocol.event import Event, encode_record
from baton.protocol.headers import Headers
from baton.protocol.registry import EventRegistry
from baton.protocol.routing import Pattern
from baton.security.signing_middleware import SigningMiddleware

__all__ = ["Bus", "Responder"]

log = logging.getLogger("baton.bus")


class Bus(Lifecycle):
    """Baton's event bus over a transport (Kafka by default).

    Args:
        settings: Deployment settings (bootstrap, topic prefix, strictness, retries...).
        transport: Broker transport; defaults to :class:`KafkaTransport`.
        registry: Event type registry; defaults to one built from ``settings``.
        middleware: Wraps every publish and handled record; defaults to tracing only.
            When ``settings`` configure message signing, the signing middleware is added
            last (innermost), whatever the list.
    """

    def __init__(
        self,
        *,
        settings: BatonSettings,
        transport: Transport | None = None,
        registry: EventRegistry | None = None,
        middleware: Sequence[Middleware] | None = None,
    ) -> None:
        self.settings = settings
        self.topics: TopicNames = settings.topics
        self.transport: Transport = transport or KafkaTransport(settings=settings)
        self.registry = registry or EventRegistry.from_settings(settings)
        self.middleware: list[Middleware] = list(
            middleware if middleware is not None else [TracingMiddleware()]
        )
        self.stats: Counter[str] = Counter()
        # Records found on another partition than their key's, per topic (bus.rerouting).
        self.wrong_partitions: Counter[str] = Counter()
        self.signing = SigningMiddleware.from_settings(settings, stats=self.stats)
        if self.signing is not None:
            self.middleware.append(self.signing)
        self._consumers: dict[tuple[str, str], GroupConsumer] = {}
        self._requests = Requests(bus=self)
        self._started = False
        self._crash: BaseException | None = None
        self._crashed = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the producer and start every subscribed consumer group."""
        if self._started:
            return
        await self.transport.start()
        self._started = True
        for consumer in list(self._consumers.values()):
            await consumer.start(on_crash=self._on_crash)

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Finish and commit in-flight batches, then disconnect. Safe to call twice.

        Args:
            timeout: Seconds the batches in hand get (all groups at once); a batch still
                being handled then is abandoned uncommitted, so it comes again.
        """
        if not self._started:
            return
        self._started = False
        await self._requests.stop()
        await asyncio.gather(*(c.stop(timeout=timeout) for c in list(self._consumers.values())))
        await self.transport.stop()

    def _on_crash(self, error: BaseException) -> None:
        log.critical("a consumer loop died: %r", error)
        self._crash = error
        self._crashed.set()

    async def wait_crashed(self) -> BaseException:
        """Wait until a consumer loop dies and return its error (for supervisors)."""
        await self._crashed.wait()
        assert self._crash is not None
        return self._crash

    async def require_topics(self, names: Sequence[str] | None = None) -> None:
        """Raise MissingTopicError naming each missing topic (default: every subscribed one)."""
        wanted = (
            set(names)
            if names is not None
            else {t for c in self._consumers.values() for t in c.topics}
        )
        missing = sorted(wanted - await self.transport.existing_topics())
        if missing:
            raise MissingTopicError(
                f"missing topics: {', '.join(missing)}; create them with `baton topics create`",
                topics=missing,
            )

    # -- publishing ------------------------------------------------------------------------

    def _prepare(
        self, event: Event | str, topic: str | None
    ) -> tuple[Event, str, bytes, bytes, Headers]:
        if isinstance(event, str):
            event = Event.parse(event, max_bytes=self.settings.max_line_bytes)
        findings = self.registry.check(event.event_type, event.data)
        if not event.source or findings != event.findings:
            event = event.replace(source=event.source or self.settings.component, findings=findings)
        key, value, headers = encode_record(event)
        return event, topic or self.topics.events, key, value, headers

    async def send(self, event: Event | str, *, topic: str | None = None) -> Awaitable[Ack]:
        """Hand an event to the producer and return its pending acknowledgement.

        Inside a handler the consumer loop also waits for it before committing the offset of
        the record being handled, so nothing handled is committed before its output is durable.

        Raises:
            ProtocolError: the event is not valid (e.g. strict mode and missing fields).
        """
        prepared, target, key, value, headers = self._prepare(event, topic)
        return await self._send(target, key, value, headers, prepared)

    async def publish(self, event: Event | str, *, topic: str | None = None) -> Ack:
        """Publish an event (or a wire line) and wait until the broker acknowledges it.

        Raises:
            ProtocolError: the event is not valid; nothing was sent.
        """
        return await (await self.send(event, topic=topic))

    async def send_raw(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        sign: bool = True,
    ) -> Awaitable[Ack]:
        """Send bytes as they are (outbox rows, dead letters, retries, replays); not validated.

        Args:
            sign: With message signing on, sign the record as this process (outbox rows);
                False sends a copy of someone else's record with its signature untouched.
        """
        return await self._send(topic, key or b"", value or b"", list(headers), None, sign=sign)

    async def _send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: Headers,
        event: Event | None,
        *,
        sign: bool = True,
    ) -> Awaitable[Ack]:
        signing = self.signing if sign else None
        if event is not None and self.middleware:
            with publish_scope(self.middleware, topic=topic, event=event, headers=headers):
                if signing is not None:  # last: the other middlewares' headers are in
                    signing.sign(key=key, value=value, headers=headers)
                delivery = await self.transport.enqueue(
                    topic, key=key, value=value, headers=headers
                )
        else:
            if signing is not None:
                signing.sign(key=key, value=value, headers=headers)
            delivery = await self.transport.enqueue(topic, key=key, value=value, headers=headers)
        pending = BATCH_DELIVERIES.get()
        if pending is not None:
            pending.append(delivery)
        self.stats["published"] += 1
        return delivery

    async def partition_for(self, key: str, *, topic: str | None = None) -> int:
        """The partition of ``topic`` (default: the events topic) that events keyed ``key``
        (a workflow id, or an event's ``partition_key``) go to.

        Raises:
            DependencyUnavailableError: the broker's metadata cannot be had.
        """
        return await self.transport.partition_for(topic or self.topics.events, key=key.encode())

    def assigned(self, *, group: str, topic: str | None = None) -> frozenset[int]:
        """Partitions of ``topic`` (default: the events topic) that this process holds in
        consumer ``group`` now: none before start, during a rebalance, or when it has no
        subscription there. What a replica owns follows from these."""
        consumer = self._consumers.get((group, topic or self.topics.events))
        return frozenset() if consumer is None else consumer.partitions()

    async def consumer_lag(self) -> dict[str, dict[TopicPartition, int]]:
        """Per consumer group of this process: records not yet handled and committed in each
        partition it holds (its source topics and their retry topics)."""
        # All at once: each reading waits for the broker (up to its timeout in a rebalance),
        # and a scrape of the metrics has a few seconds for every group.
        consumers = sorted(self._consumers.items())
        read = await asyncio.gather(*(consumer.lag() for _, consumer in consumers))
        lags: dict[str, dict[TopicPartition, int]] = {}
        for ((group, _), _), behind in zip(consumers, read, strict=True):
            lags.setdefault(group, {}).update(behind)
        return lags

    async def wait_assigned(
        self, *, group: str, topic: str | None = None, timeout: float = 30.0
    ) -> frozenset[int]:
        """Wait until this process holds partitions of ``topic`` (default: the events
        topic) in consumer ``group`` and knows where it reads in each; returns them.

        A subscription started at ``StartAt.LATEST`` sees every event published after
        this returns (on the partitions it holds: alone in its group, all of them).

        Raises:
            BatonError: the group has no subscription on ``topic`` here, or the bus is not
                started.
            TimeoutError: nothing was assigned within ``timeout`` seconds.
        """
        consumer = self._consumers.get((group, topic or self.topics.events))
        if consumer is None or not self._started:
            raise BatonError(
                "wait_assigned needs a started bus with a subscription in this group",
                group=group,
            )
        async with asyncio.timeout(timeout):
            return await consumer.wait_assigned()

    # -- subscribing -----------------------------------------------------------------------

    def subscribe(
        self,
        pattern: str,
        handler: Handler,
        *,
        group: str,
        topic: str | None = None,
        name: str | None = None,
        start_at: StartAt = StartAt.EARLIEST,
        gather_ms: int | None = None,
    ) -> Subscription:
        """Call ``handler`` for every event whose routing key matches ``pattern``.

        Args:
            pattern: ``*`` matches one segment, ``#`` any number (``workflow.#``).
            handler: Async callable taking the :class:`Event`.
            group: Consumer group; members of a group share the partitions. A group that
                committed offsets before continues from them.
            topic: Source topic; defaults to the events topic.
            name: Subscription name in retry headers; defaults to the handler's name.
            start_at: Where a group new to the broker starts: the oldest record the topic
                holds (``StartAt.EARLIEST``, the default), or only what is published once
                it holds its partitions (``StartAt.LATEST``; see :meth:`wait_assigned`).
            gather_ms: As for :meth:`subscribe_batches`: for a group that wants few of the
                events it reads, off the workflows' critical path.
        """
        return self._add(pattern, handler, None, group, topic, name, start_at, gather_ms)

    def subscribe_batches(
        self,
        pattern: str,
        handler: BatchHandler,
        *,
        group: str,
        topic: str | None = None,
        name: str | None = None,
        start_at: StartAt = StartAt.EARLIEST,
        gather_ms: int | None = None,
    ) -> Subscription:
        """As :meth:`subscribe`, but ``handler`` takes the matching events of a partition
        that arrive together, in order, as one list (see :data:`BatchHandler`): one
        transaction for many events instead of one each. Events from retry topics come
        one at a time.

        Args:
            gather_ms: Let the broker gather records up to this long before it answers
                the group's fetch (None: answer as soon as one arrives). For readers off
                the workflows' critical path (a read model, metrics): a few big batches a
                second instead of one per event, leaving the CPU to the path that matters.
        """

        async def one(event: Event) -> None:
            await handler([event])

        return self._add(pattern, one, handler, group, topic, name, start_at, gather_ms)

    def _add(
        self,
        pattern: str,
        handler: Handler,
        batch: BatchHandler | None,
        group: str,
        topic: str | None,
        name: str | None,
        start_at: StartAt,
        gather_ms: int | None,
    ) -> Subscription:
        source = topic or self.topics.events
        named = batch or handler
        sub = Subscription(
            pattern=Pattern(pattern),
            handler=handler,
            group=group,
            topic=source,
            name=name or f"{getattr(named, '__qualname__', 'handler')}@{pattern}",
            start_at=start_at,
            batch=batch,
        )
        consumer = self._consumers.get((group, source))
        if consumer is None:
            consumer = GroupConsumer(
                bus=self, group=group, source=source, start_at=start_at, gather_ms=gather_ms
            )
            self._consumers[(group, source)] = consumer
            if self._started:
                raise BatonError(
                    "subscribe new groups before start(); restart the bus to add one",
                    group=group,
                )
        if any(s.name == sub.name for s in consumer.subscriptions):
            raise BatonError(f"subscription name {sub.name!r} is taken in group {group!r}")
        consumer.subscriptions.append(sub)
        return sub

    def subscriber(
        self, pattern: str, *, group: str, topic: str | None = None, name: str | None = None
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`subscribe`."""

        def register(handler: Handler) -> Handler:
            self.subscribe(pattern, handler, group=group, topic=topic, name=name)
            return handler

        return register

    # -- request-response ------------------------------------------------------------------

    def serve(
        self,
        service: str,
        responder: Responder,
        *,
        group: str | None = None,
        durable: bool = False,
    ) -> Subscription:
        """Answer requests sent to ``service``'s commands topic with ``responder``.

        Replies are remembered by request id, so a repeated request is answered again and
        not applied twice. ``durable``: the responder stores its replies itself
        (:func:`baton.runtime.durable_responder`), so memory keeps only recent ones, to
        spare a quick retry a database round trip.
        """
        return self._requests.serve(service, responder, group=group, durable=durable)

    async def request(
        self,
        event: Event | str,
        *,
        service: str,
        timeout: float | None = None,
        attempts: int | None = None,
    ) -> Event:
        """Send a request to ``service`` and wait for its reply.

        Raises:
            RequestTimeoutError: no reply within ``timeout`` (default 30 s), retries included.
            RemoteError: the service answered with an error.
            ProtocolError: the request is not a valid event.
        """
        return await self._requests.request(
            event, service=service, timeout=timeout, attempts=attempts
        )

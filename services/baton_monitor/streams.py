"""Windowed event counts of the performance monitor, kept by faust-streaming.

One faust agent reads ``<prefix>.events`` as raw bytes and updates four windowed tables:
event counts per type (tumbling, and per hopping step: a hopping window is the sum of the
steps it spans, so a record is written once, not once per hopping window holding it),
TASK_FAILED counts per agent (tumbling), and
quantile sketches (:mod:`baton_monitor.sketch`, 1 % relative accuracy) of event-to-processed
latency, task durations per ``<workflow type>/<agent>`` and phase durations per
``<workflow type>/<phase>`` (tumbling) — plus one plain table of task and phase start
times, so a duration spans a restart. A duration is the one the event's data reports
(``duration`` / ``actual_duration``), else the time between the records' timestamps since
TASK_STARTED (or TASK_ASSIGNED) / PHASE_STARTED. The workflow type is the hub's default,
the id without its trailing number. The tables live in memory and are restored from their
changelog topics on start, so a restarted monitor keeps its windows and percentiles
without re-reading the events. (Starts of tasks that never end stay in the start table;
a compacted topic holds one record each.)

The agent counts the records that arrived together as one batch and writes each changed
key once (:mod:`baton_monitor.tally`), not a changelog record per event per window.

Every table key carries the source partition, and a change goes to that partition of the
changelog (:class:`~baton_monitor.tally.PartitionedTable`): each changelog partition holds
its own keys, and the replica that owns a source partition restores exactly them.
:meth:`MonitorStreams.figures` exports them per partition this
instance owns, and a snapshot sums them (:func:`baton_monitor.streamviews.merge`); with
several replicas, the service publishes each one's figures so that any of them can sum
every partition's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aiokafka.errors import KafkaError
from faust.types.windows import WindowT
from faust.windows import TumblingWindow

from baton.errors import DependencyUnavailableError
from baton.protocol.fields import workflow_type_of
from baton.security.kafka_client import KafkaSecurity
from baton_monitor import streamviews
from baton_monitor.faust_app import (
    MALFORMED,
    Reading,
    SourceTopic,
    build_app,
    describe_source,
    ensure_changelogs,
    read_line,
)
from baton_monitor.streamviews import Figures, window_key
from baton_monitor.tally import Tally

__all__ = ["MonitorStreams"]

log = logging.getLogger(__name__)

_BATCH: Final = 2_000
"""Most records the counting agent takes at once."""
_WITHIN: Final = 1.0
"""Seconds it waits for more before counting what it has: what the windows lag behind."""

WindowCallback = Callable[[dict[str, Any]], Awaitable[None]]


class MonitorStreams:
    """The faust part of the monitor, started and stopped by the host service's loop.

    Args:
        bootstrap: Kafka ``host:port`` list.
        topic_prefix: Prefix of the events topic (``baton`` → ``baton.events``).
        app_id: Name of this stream processor; the faust id (consumer group and head of
            the changelog topic names) is ``<topic_prefix>.<app_id>``. It must differ from
            the group of any other consumer of the events topic.
        data_dir: Faust's data directory.
        tumbling_s: Size of the tumbling windows.
        hopping_size_s: Size of the hopping windows.
        hopping_step_s: Step between hopping windows.
        on_window: Awaited with a summary (:meth:`snapshot` of that moment) each time a
            tumbling window closes, a few seconds after its end to let late records in.
        security: How every Kafka client of the App authenticates; unset, plaintext.
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        topic_prefix: str,
        app_id: str,
        data_dir: Path,
        tumbling_s: float = 60,
        hopping_size_s: float = 300,
        hopping_step_s: float = 60,
        on_window: WindowCallback | None = None,
        security: KafkaSecurity | None = None,
    ) -> None:
        if tumbling_s <= 0 or hopping_step_s <= 0 or hopping_size_s < hopping_step_s:
            raise ValueError("windows need tumbling_s > 0 and hopping_size_s >= step > 0")
        self.bootstrap = bootstrap
        self.security = security
        self.topic = f"{topic_prefix}.events"
        self.faust_id = f"{topic_prefix}.{app_id}"
        self.data_dir = data_dir
        self.tumbling_s = float(tumbling_s)
        self.hopping_size_s = float(hopping_size_s)
        self.hopping_step_s = float(hopping_step_s)
        self.on_window = on_window
        # Windows stay twice their size: long enough for a late record and for on_window.
        self._expires = {"tumbling": 2 * self.tumbling_s, "steps": 2 * self.hopping_size_s}
        self._horizon = max(self._expires.values())
        self._tumbling = TumblingWindow(self.tumbling_s, expires=self._expires["tumbling"])
        # Hopping windows are summed from their steps (streamviews.merge): faust's own
        # HoppingWindow writes each record into size/step windows, a changelog record each.
        self._steps = TumblingWindow(self.hopping_step_s, expires=self._expires["steps"])
        self.app: Any = None
        self.source: SourceTopic | None = None
        self._tables: dict[str, Any] = {}
        # Same as .tumbling(size, expires=...), with the window objects shared so that a
        # snapshot can pick windows before the tables exist.
        self._windows: dict[str, WindowT] = {
            "tumbling": self._tumbling,
            "errors": self._tumbling,
            "steps": self._steps,
            "sketches": self._tumbling,
        }
        self._restored: dict[str, int] = {}
        self._processed = 0
        self._late = 0
        self._replayed = 0
        # The first offset this instance read of each partition: where its reading resumed
        # (the committed offset, or before it when faust hands records over again).
        self._resumed_at: dict[int, int] = {}
        self._written = 0
        self._closer: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def processed(self) -> int:
        """Records the counting agent has read."""
        return self._processed

    @property
    def recovered(self) -> bool:
        """Whether every table has been restored from its changelog at least once."""
        return len(self._restored) == len(self._tables) > 0

    async def start(self) -> None:
        """Build the App and start it; returns once the tables are recovered.

        Raises:
            MissingTopicError: the events topic does not exist.
            DependencyUnavailableError: Kafka does not answer.
        """
        if self.app is not None:
            raise RuntimeError("MonitorStreams is single-use: build a new one to restart")
        self.source = await describe_source(
            bootstrap=self.bootstrap, topic=self.topic, security=self.security
        )
        self.app = build_app(
            app_id=self.faust_id,
            bootstrap=self.bootstrap,
            data_dir=self.data_dir,
            source=self.source,
            security=self.security,
        )
        self._declare(self.app)
        await ensure_changelogs(
            bootstrap=self.bootstrap,
            source=self.source,
            retention_s={
                table.changelog_topic.get_topic_name(): (
                    table.window.expires if name in self._windows else None
                )
                for name, table in self._tables.items()
            },
            security=self.security,
        )
        try:
            await self.app.start()
        except (KafkaError, OSError) as exc:
            # A broker lost while faust joins, fetches offsets or recovers: the monitor's
            # supervisor starts the windows again (a new instance) once Kafka answers.
            raise DependencyUnavailableError(
                f"the faust windows could not start against Kafka at {self.bootstrap}: {exc!r}",
                bootstrap=self.bootstrap,
            ) from exc
        if self.on_window is not None:
            self._closer = asyncio.create_task(
                self._close_windows(self.on_window), name="monitor-windows"
            )

    async def stop(self) -> None:
        """Stop the App (flushing the changelog and committing offsets); idempotent."""
        if self._stopped or self.app is None:
            return
        self._stopped = True
        if self._closer is not None:
            self._closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._closer
        await self.app.stop()

    def snapshot(self, at: float | None = None) -> dict[str, Any]:
        """Counts of the windows holding ``at`` (default: now), as JSON-ready data.

        The hopping window is the one that covers the ``hopping_size_s`` seconds up to the
        next step (faust's ``.earliest()``), not the one that just began (``.current()``).
        Counts are those of the partitions this instance owns: none before start or after
        stop.
        """
        moment = time.time() if at is None else at
        figures = self.figures()
        return {
            "topic": self.topic,
            "app_id": self.faust_id,
            "partitions": sorted(figures),
            "recovered": self.recovered,
            "restored_keys": sum(self._restored.values()),
            "processed": self._processed,
            "late": self._late,
            "replayed": self._replayed,
            "resumed_at": dict(sorted(self._resumed_at.items())),
            "changelog_writes": self._written,
            **streamviews.merge(
                figures,
                at=moment,
                tumbling_s=self.tumbling_s,
                hopping_size_s=self.hopping_size_s,
                hopping_step_s=self.hopping_step_s,
            ),
        }

    def figures(self) -> dict[int, Figures]:
        """What the tables hold for each partition this instance owns
        (:data:`~baton_monitor.streamviews.Figures`); none before the tables are recovered.

        Reads the stores: a windowed table lists its keys only with ``key_index=True`` (one
        more table and changelog topic), and ``.current()`` needs a stream event.
        """
        owned = self.owned()
        out = {partition: streamviews.empty() for partition in owned}
        if not owned:
            return out
        for kind in streamviews.KINDS:
            for key, value in self._tables[kind].data.items():
                match key:
                    case ((int() as partition, *names), (float() | int() as start, _)) if (
                        partition in owned and all(isinstance(n, str) for n in names)
                    ):
                        window = out[partition][kind].setdefault(window_key(start), {})
                        window["/".join(names)] = value
        return out

    def _declare(self, app: Any) -> None:
        """Declare the source topic, the three windowed tables and the counting agent."""
        topic = app.topic(
            self.topic,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        self._tables = {
            "tumbling": app.Table("event_counts_tumbling", default=int),
            "errors": app.Table("agent_errors_tumbling", default=int),
            "steps": app.Table("event_counts_steps", default=int),
            "sketches": app.Table("duration_sketches_tumbling", default=dict),
            "starts": app.Table("open_starts", default=None),
            "counted": app.Table("counted_offsets", default=None),
        }
        for name, window in self._windows.items():
            self._tables[name].using_window(window)
        for name, table in self._tables.items():
            table.on_recover(self._recovery_callback(name, table))

        async def count(stream: Any) -> None:
            async for events in stream.take_events(_BATCH, within=_WITHIN):
                self._count(events)

        app.agent(topic, name="count_events")(count)

    def _count(self, events: Sequence[Any]) -> None:
        """Add the records that arrived together to the windows of their timestamps, each
        changed key written once (:mod:`baton_monitor.tally`).

        A record at or before the latest counted from its partition is skipped: faust
        commits source offsets only every second, so after a kill -9 or a rebalance the
        partition's next owner reads again records whose counts the changelog already
        holds. The latest offset counted is a table too, written to the same changelog
        partition as the counts.
        """
        tally = Tally(tables=self._tables, windows=self._windows)
        for event in events:
            message = event.message
            partition = message.partition
            self._resumed_at.setdefault(partition, message.offset)
            done = tally.counted(partition)
            if done is not None and message.offset <= done:
                self._replayed += 1
                continue
            tally.mark(partition, message.offset)
            self._processed += 1
            if message.timestamp < time.time() - self._horizon:
                # Its windows have expired already; counting would only churn the changelog.
                self._late += 1
                continue
            reading = read_line(message.value)
            at = message.timestamp
            tally.count("tumbling", (partition, reading.kind), at=at)
            tally.count("steps", (partition, reading.kind), at=at)
            if reading.failed_agent is not None:
                tally.count("errors", (partition, reading.failed_agent), at=at)
            if reading.kind != MALFORMED:
                self._time(tally, partition, reading, at=at)
        self._written += tally.write()

    def _time(self, tally: Tally, partition: int, reading: Reading, *, at: float) -> None:
        """Add the record's latency, and the duration it ends, to the sketches."""
        tally.sample((partition, "latency", "all"), max(0.0, time.time() - at), at=at)
        kind, subject = reading.kind, reading.subject
        if not subject or not kind.startswith(("TASK_", "PHASE_")):
            return
        scope = "task" if kind.startswith("TASK_") else "phase"
        key = (partition, reading.workflow_id, scope, subject)
        began = tally.start(key)
        if kind in ("TASK_STARTED", "PHASE_STARTED") or (kind == "TASK_ASSIGNED" and began is None):
            tally.begin(key, at=at)
        elif kind in ("TASK_COMPLETED", "PHASE_COMPLETED"):
            if began is not None:
                tally.end(key)
            duration = reading.duration
            if duration is None and began is not None:
                duration = max(0.0, at - began)
            if duration is not None:
                label = reading.agent if scope == "task" else subject
                workflow_type = workflow_type_of(reading.workflow_id)
                tally.sample(
                    (partition, f"{scope}_duration", f"{workflow_type}/{label}"), duration, at=at
                )
        elif kind in ("TASK_FAILED", "TASK_CANCELLED", "PHASE_FAILED") and began is not None:
            tally.end(key)

    def _recovery_callback(self, name: str, table: Any) -> Callable[[], Awaitable[None]]:
        async def recovered() -> None:
            # Only the first recovery restores from scratch; later ones follow rebalances.
            self._restored.setdefault(name, len(table.data))

        return recovered

    def owned(self) -> set[int]:
        """Partitions of the events topic assigned to this instance; none while a
        rebalance or a recovery is in progress (the tables' counts are partial)."""
        if self.app is None or self._stopped or not self.recovered:
            return set()
        if self.app.in_recovery or self.app.rebalancing:
            return set()
        return {tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.topic}

    async def _close_windows(self, on_window: WindowCallback) -> None:
        """Call ``on_window`` once per tumbling window, a grace period after it ends."""
        grace = min(5.0, self.tumbling_s / 4)
        while True:
            end = math.floor(time.time() / self.tumbling_s) * self.tumbling_s + self.tumbling_s
            await asyncio.sleep(max(0.0, end + grace - time.time()))
            try:
                await on_window(self.snapshot(at=end - self.tumbling_s / 2))
            except Exception:
                log.exception("on_window failed for the window ending %s", _iso(end))


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()

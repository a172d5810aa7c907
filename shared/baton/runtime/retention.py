"""Retention: every service prunes its rows past their window, in small batches.

A :class:`PruneRule` names a table, its time column, a window and optionally a condition
(``status in (...)``) or a column whose rows go together (a workflow's checkpoints). The
runner supervises one :class:`Pruner` loop per service process with the runtime's rules
(idempotency ledger, replies, leftover outbox rows) and the service's own
(:meth:`baton.runtime.Service.retention_rules`). Windows come from ``BATON_RETENTION_*``
(:class:`RetentionConfig`); why the ledger's and replies' windows keep exactly-once is in
docs/retention.md.

Each batch is one short transaction deleting at most ``batch`` rows. Replicas (and the
five services, which share the runtime's tables) prune side by side safely: a rule is
pruned by one process at a time (a transaction-scoped advisory lock per schema and rule,
*tried*, so the others skip it instead of waiting), and a batch skips rows a handler holds
locked (``for update skip locked``), so pruning never waits for, or deadlocks with, the
work it runs beside.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Final

import asyncpg
from pydantic import Field, field_validator

from baton.config import SERVICES, BatonSettings, ServiceConfig
from baton.db import Database
from baton.errors import BatonError, ConfigError, ProtocolError
from baton.protocol.duration import parse_duration

__all__ = [
    "KAFKA_SEGMENT_ROLL",
    "LEDGER_MARGIN",
    "PASSING_ERRORS",
    "PruneRule",
    "Pruner",
    "RetentionConfig",
    "runtime_rules",
    "sql_literal",
]

log = logging.getLogger("baton.retention")

DAY: Final = 86_400.0
KAFKA_SEGMENT_ROLL: Final = 7 * DAY
"""Kafka's default ``log.roll.hours`` (168): a record outlives its topic's ``retention.ms``
by up to this long, until its segment is rolled and then deleted whole."""
LEDGER_MARGIN: Final = DAY
"""Added to the default ledger window: the broker deletes expired segments in periodic
checks (every 5 minutes by default), and producers', broker's and database's clocks
differ."""

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _seconds(value: Any) -> Any:
    """``"7d"``, ``"12h"``, ``"90s"``, ``"1h 30m"`` or a plain number of seconds."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ProtocolError as exc:
        raise ValueError(exc.message) from None


class RetentionConfig(ServiceConfig):
    """How long rows stay (``BATON_RETENTION_*``): durations like ``7d``, ``12h``, ``90s``
    or plain seconds. One set for the whole deployment (every service reads the same).

    Attributes:
        ledger: Idempotency ledger (``baton_processed``). Unset: the events topic's
            retention (``BATON_EVENTS_RETENTION_MS``) + :data:`KAFKA_SEGMENT_ROLL` +
            :data:`LEDGER_MARGIN` (15 days by default), so an event the topics may still
            hold is always recognised. Never shorter than that retention (refused at
            start).
        replies: Stored replies (``baton_replies``). Unset and floor: as ``ledger``, for
            the commands topics keep requests as long as the events topic keeps events;
            also never shorter than a client's retries (attempts times the request timeout).
        outbox: Outbox rows of owners no relay of this deployment sends (left by a
            removed deployment or service in a shared schema). This deployment's own rows
            are never pruned: its relays send them.
        workflows: Finished (completed, failed, cancelled) workflows in the hub, after
            their last change.
        checkpoints: A workflow's checkpoints, together, after its newest one.
        reports: A workflow's error reports, together, after its newest one.
        actions: Recovery actions done, after they were done (pending ones stay).
        answers: The resource manager's answers to settled requests (neither held nor
            queued), after their last change; a repeat of the request is then new.
        interval: Seconds between pruning passes.
        batch: Most rows one batch (one transaction) deletes.
    """

    env_prefix: ClassVar[str] = "BATON_RETENTION_"

    ledger: float | None = Field(default=None, gt=0)
    replies: float | None = Field(default=None, gt=0)
    outbox: float = Field(default=7 * DAY, gt=0)
    workflows: float = Field(default=30 * DAY, gt=0)
    checkpoints: float = Field(default=30 * DAY, gt=0)
    reports: float = Field(default=30 * DAY, gt=0)
    actions: float = Field(default=30 * DAY, gt=0)
    answers: float = Field(default=DAY, gt=0, le=366 * DAY)
    interval: float = Field(default=300.0, gt=0, le=DAY)
    batch: int = Field(default=1000, ge=1, le=100_000)

    _durations = field_validator(
        "ledger",
        "replies",
        "outbox",
        "workflows",
        "checkpoints",
        "reports",
        "actions",
        "answers",
        "interval",
        mode="before",
    )(_seconds)

    @staticmethod
    def redelivery_floor(settings: BatonSettings) -> float:
        """Seconds an event may be read again by a consumer: the topics' retention."""
        return settings.events_retention_ms / 1000

    def ledger_window(self, *, settings: BatonSettings) -> timedelta:
        """How long ``baton_processed`` keeps an event id."""
        default = self.redelivery_floor(settings) + KAFKA_SEGMENT_ROLL + LEDGER_MARGIN
        return timedelta(seconds=self.ledger if self.ledger is not None else default)

    def replies_window(self, *, settings: BatonSettings) -> timedelta:
        """How long ``baton_replies`` keeps a reply."""
        if self.replies is not None:
            return timedelta(seconds=self.replies)
        return self.ledger_window(settings=settings)

    def check(self, *, settings: BatonSettings) -> None:
        """Refuse windows that would let an event or request be applied twice.

        Raises:
            ConfigError: the ledger or replies window is shorter than the topics' retention
                (or, for replies, than a client's retries); names the variable.
        """
        floor = self.redelivery_floor(settings)
        retries = settings.request_timeout * settings.request_attempts
        for name, window, least, why in (
            ("LEDGER", self.ledger_window(settings=settings), floor, "events topic"),
            ("REPLIES", self.replies_window(settings=settings), max(floor, retries), "commands"),
        ):
            if window.total_seconds() < least:
                variable = f"{self.env_prefix}{name}"
                raise ConfigError(
                    f"{variable}: {window.total_seconds():g}s is shorter than the {why} "
                    f"topics' retention ({floor:g}s, BATON_EVENTS_RETENTION_MS) or a "
                    f"request's retries ({retries:g}s): a record still redelivered could be "
                    "applied twice",
                    variable=variable,
                )


def sql_literal(value: str) -> str:
    """``value`` as an SQL string literal, for a rule's condition."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class PruneRule:
    """Rows of ``table`` whose ``time_column`` is older than ``window`` go.

    Attributes:
        name: Short name, in logs and counts (``ledger``); unique per process.
        table: The table (in the deployment's schema).
        time_column: A ``timestamptz`` column, indexed (with ``condition`` as the index's
            predicate when there is one).
        window: How long rows stay after their time.
        condition: SQL the rows must also meet (``status in ('COMPLETED')``); written by
            the service, never from input.
        together_by: A text column; rows sharing its value go together, once the newest of
            them is past the window (a workflow's checkpoints: a chain never loses a link).
            Needs an index on ``(together_by, time_column)``.
    """

    name: str
    table: str
    time_column: str
    window: timedelta
    condition: str | None = None
    together_by: str | None = None

    def __post_init__(self) -> None:
        for part in (self.table, self.time_column, self.together_by or "x"):
            if not _IDENT.match(part):
                raise BatonError(
                    f"prune rule {self.name}: {part!r} is not a plain identifier", rule=self.name
                )
        if self.window <= timedelta(0):
            raise BatonError(f"prune rule {self.name}: the window must be positive", rule=self.name)

    def statement(self) -> str:
        """The SQL of one batch: ``$1`` window, ``$2`` batch size (``$3`` cursor, grouped);
        returns ``(seen, last, deleted)``."""
        where = f"{self.time_column} < now() - $1::interval"
        if self.condition:
            where += f" and ({self.condition})"
        if self.together_by is None:
            return _PLAIN.format(table=self.table, where=where)
        return _GROUPED.format(
            table=self.table, where=where, key=self.together_by, time=self.time_column
        )


# One batch of a plain rule: the rows by ctid (a TID scan), those a handler holds skipped.
_PLAIN = """
with doomed as (
    select ctid from {table} where {where} limit $2 for update skip locked
), gone as (
    delete from {table} where ctid = any(array(select ctid from doomed)) returning 1
)
select (select count(*) from doomed) as seen, null::text as last,
       (select count(*) from gone) as deleted
"""

# One batch of a grouped rule: up to $2 old rows after the cursor $3, in key order; the keys
# among them with no row inside the window lose all their rows (in one statement, so a
# foreign key among them is checked once they are all gone).
_GROUPED = """
with old as (
    select {key} as key from {table} where {where} and {key} > $3::text
    order by {key} limit $2
), idle as (
    -- Each key's newest row, one index lookup each (an anti-join would hash every row
    -- inside the window, per batch).
    select key from (select distinct key from old) as keys
    where (select max(newer.{time}) from {table} newer where newer.{key} = keys.key)
        < now() - $1::interval
), gone as (
    delete from {table} where {key} in (select key from idle) returning 1
)
select (select count(*) from old) as seen, (select max(key) from old) as last,
       (select count(*) from gone) as deleted
"""

# A batch cut short by load (a lock or statement timeout set by an operator, a deadlock the
# server broke): the rule waits for the next pass. An outage is the runner's (the loop
# starts again with backoff); any other error is a bug and stops the service loudly.
PASSING_ERRORS: Final = (
    asyncpg.QueryCanceledError,
    asyncpg.LockNotAvailableError,
    asyncpg.DeadlockDetectedError,
)

_TRY_LOCK = (
    "select pg_try_advisory_xact_lock("
    "hashtextextended('baton.retention:' || current_schema() || ':' || $1, 0))"
)


def runtime_rules(config: RetentionConfig, *, settings: BatonSettings) -> list[PruneRule]:
    """The shared runtime's rules: idempotency ledger, replies, leftover outbox rows."""
    relays = ", ".join(sql_literal(f"{settings.topic_prefix}.{s}") for s in SERVICES)
    return [
        PruneRule(
            name="ledger",
            table="baton_processed",
            time_column="processed_at",
            window=config.ledger_window(settings=settings),
        ),
        PruneRule(
            name="replies",
            table="baton_replies",
            time_column="created_at",
            window=config.replies_window(settings=settings),
        ),
        PruneRule(
            name="outbox",
            table="baton_outbox",
            time_column="created_at",
            window=timedelta(seconds=config.outbox),
            condition=f"owner <> all(array[{relays}])",
        ),
    ]


class Pruner:
    """Prunes rows past their window, rule by rule, batch by batch (module doc).

    Args:
        db: The deployment's database.
        rules: What to prune.
        batch: Most rows one batch deletes.
        interval: Seconds between passes of :meth:`run`.
    """

    def __init__(
        self, *, db: Database, rules: Sequence[PruneRule], batch: int, interval: float
    ) -> None:
        names = [rule.name for rule in rules]
        if len(set(names)) != len(names):
            raise BatonError(f"prune rules share a name: {names}", rules=names)
        self._db = db
        self._rules = list(rules)
        self._batch = batch
        self._interval = interval
        self.deleted: dict[str, int] = dict.fromkeys(names, 0)
        """Rows each rule deleted since start."""
        self.batches: dict[str, int] = dict.fromkeys(names, 0)
        """Batches (transactions) each rule ran since start."""

    @property
    def rules(self) -> list[PruneRule]:
        return list(self._rules)

    async def run(self) -> None:
        """Prune every ``interval`` seconds, until cancelled."""
        while True:
            await self.prune()
            await asyncio.sleep(self._interval)

    async def prune(self) -> dict[str, int]:
        """One pass over every rule; rows deleted per rule."""
        done = {rule.name: await self.prune_rule(rule) for rule in self._rules}
        if any(done.values()):
            log.info("pruned %s", ", ".join(f"{n}={c}" for n, c in done.items() if c))
        return done

    async def prune_rule(self, rule: PruneRule) -> int:
        """Prune ``rule`` batch by batch until nothing past its window is left (or another
        process holds the rule); rows deleted."""
        statement = rule.statement()
        cursor = ""
        total = 0
        while True:
            try:
                async with self._db.transaction() as conn:
                    if not await conn.fetchval(_TRY_LOCK, rule.name):
                        return total  # another replica prunes it right now
                    args: tuple[Any, ...] = (rule.window, self._batch)
                    if rule.together_by is not None:
                        args += (cursor,)
                    row = await conn.fetchrow(statement, *args)
            except PASSING_ERRORS as exc:
                log.warning("pruning %s stops until the next pass: %r", rule.name, exc)
                return total
            deleted = int(row["deleted"])
            self.batches[rule.name] += 1
            total += deleted
            self.deleted[rule.name] += deleted
            if row["seen"] < self._batch:
                return total
            if row["last"] is not None:
                cursor = row["last"]
            await asyncio.sleep(0)  # let the service's own work through between batches

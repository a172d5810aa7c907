"""The local development stack: a Kafka broker (KRaft) and a PostgreSQL server.

``Stack.up()`` uses the services configured by ``BATON_KAFKA_BOOTSTRAP`` / ``BATON_PG_DSN``
when they answer; otherwise it starts local ones, keeping jars, data, logs and pid files
under ``settings.home``: one Kafka broker, or a cluster with ``up(brokers=3)``. ``down()``
stops only what ``up()`` started.

Example:
    report = Stack(settings=settings).up()  # or: await Stack(settings=settings).up_async()
    print(report.env())
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Coroutine
from typing import Any

from pydantic import BaseModel, ConfigDict

from baton.config import BatonSettings
from baton.errors import BatonError, StackError
from baton.stack._common import BrokerReport, ServiceReport, log, stack_lock
from baton.stack.kafka import KAFKA_VERSION, KafkaStack, kafka_answers
from baton.stack.postgres import PostgresStack, postgres_answers

__all__ = [
    "KAFKA_VERSION",
    "BrokerReport",
    "ServiceReport",
    "Stack",
    "StackReport",
    "kafka_answers",
    "postgres_answers",
]


class StackReport(BaseModel):
    """Kafka and PostgreSQL of one stack, as ``up``, ``down`` or ``status`` left them.

    Attributes:
        kafka: The broker.
        postgres: The database.
        home: Where the local stack keeps its files.
    """

    model_config = ConfigDict(frozen=True)

    kafka: ServiceReport
    postgres: ServiceReport
    home: str

    @property
    def services(self) -> list[ServiceReport]:
        """Both reports, Kafka first."""
        return [self.kafka, self.postgres]

    def env(self) -> dict[str, str]:
        """``BATON_*`` variables that point clients at this stack's endpoints."""
        return {
            "BATON_KAFKA_BOOTSTRAP": self.kafka.endpoint,
            "BATON_PG_DSN": self.postgres.endpoint,
        }


class Stack:
    """Facade over the local Kafka broker and PostgreSQL server.

    ``up``, ``down`` and ``status`` block (for scripts and test fixtures); inside an event
    loop, await ``up_async``, ``down_async`` and ``status_async`` instead.

    Args:
        settings: Where configured services are (``kafka_bootstrap``, ``pg_dsn``) and where
            the local stack keeps its files (``home``).
    """

    def __init__(self, *, settings: BatonSettings) -> None:
        self.settings = settings
        self.kafka = KafkaStack(settings=settings)
        self.postgres = PostgresStack(settings=settings)

    def _report(self, kafka: ServiceReport, postgres: ServiceReport) -> StackReport:
        return StackReport(kafka=kafka, postgres=postgres, home=str(self.settings.home))

    async def up_async(
        self, *, kafka_wait: float = 120.0, pg_wait: float = 60.0, brokers: int | None = None
    ) -> StackReport:
        """Make Kafka and PostgreSQL answer: reuse what runs, start what is missing.

        Args:
            kafka_wait: Seconds a starting broker may take to answer.
            pg_wait: Seconds a starting database may take to accept connections.
            brokers: Local Kafka brokers; unset, as many as this home last ran (one at
                first).

        Raises:
            StackError: a dependency cannot be started; the message says what to install
                or fix.
        """
        started = time.monotonic()
        async with stack_lock(self.settings.home):
            kafka, postgres = await _both(
                self.kafka.up(max_wait=kafka_wait, brokers=brokers),
                self.postgres.up(max_wait=pg_wait),
            )
        log.info("stack ready in %.1fs", time.monotonic() - started)
        return self._report(kafka, postgres)

    async def down_async(self) -> StackReport:
        """Stop what ``up`` started; configured and foreign services are left alone."""
        async with stack_lock(self.settings.home):
            kafka, postgres = await _both(self.kafka.down(), self.postgres.down())
        return self._report(kafka, postgres)

    async def status_async(self) -> StackReport:
        """Report each dependency: configured or local, running or stopped, endpoints."""
        kafka, postgres = await _both(self.kafka.status(), self.postgres.status())
        return self._report(kafka, postgres)

    def up(
        self, *, kafka_wait: float = 120.0, pg_wait: float = 60.0, brokers: int | None = None
    ) -> StackReport:
        """Blocking :meth:`up_async`."""
        return _blocking(self.up_async(kafka_wait=kafka_wait, pg_wait=pg_wait, brokers=brokers))

    def down(self) -> StackReport:
        """Blocking :meth:`down_async`."""
        return _blocking(self.down_async())

    def status(self) -> StackReport:
        """Blocking :meth:`status_async`."""
        return _blocking(self.status_async())


def _blocking(work: Coroutine[Any, Any, StackReport]) -> StackReport:
    """Run ``work`` to the end; in a thread of its own when an event loop already runs."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


async def _both(
    kafka: Coroutine[Any, Any, ServiceReport], postgres: Coroutine[Any, Any, ServiceReport]
) -> tuple[ServiceReport, ServiceReport]:
    """Run both to the end, even when one fails; then raise what failed."""
    results: list[ServiceReport | BaseException] = list(
        await asyncio.gather(kafka, postgres, return_exceptions=True)
    )
    first, second = results
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, BatonError):
            raise error
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise StackError("\n".join(str(error) for error in errors))
    assert isinstance(first, ServiceReport)
    assert isinstance(second, ServiceReport)
    return first, second

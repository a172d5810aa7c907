"""The Kafka part of the local stack: the configured broker, or a local KRaft broker.

A local broker runs Apache Kafka's own jars, fetched once from Maven Central into
``<home>/kafka/<version>/libs``, started with ``java`` as a detached process that logs to
``<home>/kafka/server.log``; its pid is in ``<home>/kafka/kafka.pid``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from baton.config import LOCAL_KAFKA_BOOTSTRAP, BatonSettings
from baton.errors import StackError
from baton.security.kafka_client import KafkaSecurity
from baton.stack._common import (
    Action,
    ServiceReport,
    State,
    log,
    pid_alive,
    port_open,
    read_pid,
    tail,
    terminate,
)
from baton.stack._kafka_setup import (
    KAFKA_VERSION,
    MAIN_CLASS,
    KafkaFiles,
    render_server_properties,
)

__all__ = [
    "KAFKA_VERSION",
    "KafkaStack",
    "kafka_answers",
    "quiet_aiokafka",
    "render_server_properties",
]

FOREIGN = "not started by baton stack; `baton stack down` leaves it alone"


@contextlib.contextmanager
def quiet_aiokafka() -> Iterator[None]:
    """Silence aiokafka's connection errors while probing a broker that may not run yet."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def kafka_answers(
    *, bootstrap: str, max_wait: float = 5.0, security: KafkaSecurity | None = None
) -> bool:
    """Whether a broker at ``bootstrap`` answers a metadata request that lists a broker.

    Args:
        bootstrap: The broker's address.
        max_wait: Seconds to wait for the answer.
        security: How to authenticate; unset, plaintext.
    """
    options = security.client_options() if security is not None else {}
    with quiet_aiokafka():
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(max_wait * 1000), **options
        )
        try:
            async with asyncio.timeout(max_wait):
                await admin.start()
                cluster = await admin.describe_cluster()
            return bool(cluster.get("brokers"))
        except Exception:
            return False
        finally:
            with contextlib.suppress(Exception):
                await admin.close()


class KafkaStack:
    """The configured broker, or the local one under ``<home>/kafka``.

    Args:
        settings: ``kafka_bootstrap`` (configured broker), ``home`` and ``partitions``.
    """

    def __init__(self, *, settings: BatonSettings) -> None:
        self.settings = settings
        self.files = KafkaFiles(root=settings.home / "kafka")
        host, port = LOCAL_KAFKA_BOOTSTRAP.rsplit(":", 1)
        self.host, self.port = host, int(port)

    @property
    def configured(self) -> str | None:
        """``BATON_KAFKA_BOOTSTRAP`` unless it names the local stack's own address."""
        value = (self.settings.kafka_bootstrap or "").strip()
        return value if value and value not in {LOCAL_KAFKA_BOOTSTRAP, self._localhost} else None

    @property
    def _localhost(self) -> str:
        return f"localhost:{self.port}"

    def _local(
        self, state: State, *, managed: bool = False, foreign: bool = False, **fields: Any
    ) -> ServiceReport:
        files: dict[str, Any] = {"log": str(self.files.log_file)}
        files["data_dir"] = str(self.files.data_dir)
        if foreign:
            files = {"log": None, "data_dir": None, "detail": FOREIGN}
        return ServiceReport.model_validate(
            {"name": "kafka", "endpoint": LOCAL_KAFKA_BOOTSTRAP, "source": "local"}
            | {"state": state, "managed": managed, **files, **fields}
        )

    async def _configured(self, bootstrap: str, action: Action | None) -> ServiceReport:
        security = self.settings.kafka_security
        ok = await kafka_answers(bootstrap=bootstrap, security=security)
        return ServiceReport(
            name="kafka",
            endpoint=bootstrap,
            source="configured",
            state="running" if ok else "unreachable",
            action=action,
        )

    def _managed_pid(self) -> int | None:
        pid = read_pid(self.files.pid_file)
        if pid is None or not pid_alive(pid, cmd_contains=MAIN_CLASS):
            return None
        # the same home's broker: its command line names this home's server.properties
        return pid if pid_alive(pid, cmd_contains=str(self.files.config)) else None

    async def status(self) -> ServiceReport:
        """Whether the broker answers, and who runs it."""
        if (configured := self.configured) is not None:
            return await self._configured(configured, None)
        pid = self._managed_pid()
        answers = await kafka_answers(bootstrap=LOCAL_KAFKA_BOOTSTRAP)
        if pid is not None:
            return self._local("running" if answers else "starting", managed=True, pid=pid)
        return self._local("running", foreign=True) if answers else self._local("stopped")

    async def up(self, *, max_wait: float = 120.0) -> ServiceReport:
        """Use the configured broker, reuse a running local one, or start one.

        Raises:
            StackError: the configured broker does not answer, the local port is taken,
                Java or Maven is missing, or the broker does not start in ``max_wait``.
        """
        if (configured := self.configured) is not None:
            report = await self._configured(configured, "reused")
            if report.state != "running":
                raise StackError(
                    f"BATON_KAFKA_BOOTSTRAP={configured} does not answer. Start that broker, "
                    "or unset BATON_KAFKA_BOOTSTRAP so that `baton stack up` starts a local "
                    f"one at {LOCAL_KAFKA_BOOTSTRAP}.",
                    bootstrap=configured,
                )
            log.info("kafka: using configured broker %s", configured)
            return report
        if (pid := self._managed_pid()) is not None:
            log.info("kafka: local broker already running (pid %d)", pid)
            await self._wait_ready(pid, max_wait=max_wait)
            return self._local("running", managed=True, action="reused", pid=pid)
        self.files.pid_file.unlink(missing_ok=True)
        if await kafka_answers(bootstrap=LOCAL_KAFKA_BOOTSTRAP):
            log.info("kafka: using a broker not started by baton at %s", LOCAL_KAFKA_BOOTSTRAP)
            return self._local("running", foreign=True, action="reused")
        for port in (self.port, self.port + 1):
            if await port_open(self.host, port):
                raise StackError(
                    f"port {self.host}:{port} is taken by a process that is not a Kafka "
                    "broker started by baton; stop it, or set BATON_KAFKA_BOOTSTRAP to your "
                    "broker."
                )
        java = await self.files.java()
        await self.files.fetch_jars()
        self.files.write_configs(partitions=self.settings.partitions)
        await self.files.format_storage(java=java)
        pid = self.files.spawn(java=java)
        log.info("kafka: waiting for the broker to answer at %s...", LOCAL_KAFKA_BOOTSTRAP)
        started = time.monotonic()
        await self._wait_ready(pid, max_wait=max_wait)
        log.info("kafka: broker ready in %.1fs", time.monotonic() - started)
        return self._local("running", managed=True, action="started", pid=pid)

    async def down(self) -> ServiceReport:
        """Stop the local broker if ``up`` started it; leave any other broker alone."""
        if (pid := self._managed_pid()) is not None:
            log.info("kafka: stopping local broker (pid %d)...", pid)
            await terminate(pid, name="kafka broker")
            self.files.pid_file.unlink(missing_ok=True)
            log.info("kafka: stopped")
            return self._local("stopped", managed=True, action="stopped", pid=pid)
        self.files.pid_file.unlink(missing_ok=True)
        if (configured := self.configured) is not None:
            return await self._configured(configured, "left-alone")
        if await kafka_answers(bootstrap=LOCAL_KAFKA_BOOTSTRAP):
            return self._local("running", foreign=True, action="left-alone")
        return self._local("stopped", action="already-stopped")

    async def _wait_ready(self, pid: int, *, max_wait: float) -> None:
        log_file = self.files.log_file
        deadline = time.monotonic() + max_wait
        while not await kafka_answers(bootstrap=LOCAL_KAFKA_BOOTSTRAP, max_wait=3.0):
            if not pid_alive(pid):
                self.files.pid_file.unlink(missing_ok=True)
                raise StackError(
                    f"the local Kafka broker exited during start-up; see {log_file}:\n"
                    f"{tail(log_file)}",
                    log=str(log_file),
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"the local Kafka broker (pid {pid}) did not answer at "
                    f"{LOCAL_KAFKA_BOOTSTRAP} within {max_wait:.0f}s; see {log_file}:\n"
                    f"{tail(log_file)}",
                    log=str(log_file),
                )
            await asyncio.sleep(0.5)

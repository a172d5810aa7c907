"""The Kafka part of the local stack: the configured broker, or local KRaft brokers.

A local broker runs Apache Kafka's own jars, fetched once from Maven Central into
``<home>/kafka/<version>/libs``, started with ``java`` as a detached process. By default
there is one, logging to ``<home>/kafka/server.log`` with its pid in
``<home>/kafka/kafka.pid``; ``baton stack up --brokers N`` starts a cluster of N nodes
instead, each a broker and a KRaft controller, under ``<home>/kafka/cluster/node-<n>``.
``up`` records the shape it started in ``<home>/kafka/layout.json``, so that ``status``,
``down`` and ``env`` follow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from baton.config import BatonSettings
from baton.errors import StackError
from baton.stack._common import (
    Action,
    BrokerReport,
    ServiceReport,
    State,
    log,
    pid_alive,
    port_open,
    read_pid,
    tail,
    terminate,
)
from baton.stack._kafka_probe import (
    cluster_size,
    group_coordinator_ready,
    kafka_answers,
    quiet_aiokafka,
)
from baton.stack._kafka_setup import (
    KAFKA_VERSION,
    MAIN_CLASS,
    MAX_BROKERS,
    KafkaFiles,
    KafkaLayout,
    default_replication,
    min_insync_replicas,
    render_server_properties,
)

__all__ = [
    "KAFKA_VERSION",
    "MAX_BROKERS",
    "KafkaLayout",
    "KafkaStack",
    "cluster_size",
    "default_replication",
    "group_coordinator_ready",
    "kafka_answers",
    "min_insync_replicas",
    "quiet_aiokafka",
    "render_server_properties",
]

FOREIGN = "not started by baton stack; `baton stack down` leaves it alone"
LAYOUT_FILE = "layout.json"


class KafkaStack:
    """The configured broker, or the local one(s) under ``<home>/kafka``.

    Args:
        settings: ``kafka_bootstrap`` (configured broker), ``home``, ``stack_kafka_port``
            and ``partitions``.
    """

    def __init__(self, *, settings: BatonSettings) -> None:
        self.settings = settings
        self.root = settings.home / "kafka"
        self.files = KafkaFiles(root=self.root)
        """The single broker's files; its jars serve every node."""
        self.layout_file = self.root / LAYOUT_FILE
        """Where ``up`` records the shape it started (:class:`KafkaLayout` as JSON)."""

    @property
    def layout(self) -> KafkaLayout:
        """What ``up`` last started in this home; else one broker on the configured port."""
        try:
            return KafkaLayout.model_validate_json(self.layout_file.read_text("utf-8"))
        except (OSError, ValueError):
            return KafkaLayout(port=self.settings.stack_kafka_port)

    @property
    def host(self) -> str:
        return self.layout.host

    @property
    def port(self) -> int:
        """The first broker's port."""
        return self.layout.port

    def node_files(self, layout: KafkaLayout, node: int) -> KafkaFiles:
        """Files of node ``node`` of ``layout``: the single broker's, or a cluster node's."""
        if layout.brokers == 1:
            return self.files
        return KafkaFiles(root=self.root / "cluster" / f"node-{node}", jars_root=self.root)

    @property
    def configured(self) -> str | None:
        """``BATON_KAFKA_BOOTSTRAP`` unless it names the local stack's own addresses."""
        value = (self.settings.kafka_bootstrap or "").strip()
        widest = KafkaLayout(brokers=MAX_BROKERS, port=self.settings.stack_kafka_port)
        local = self.layout.is_local(value) or widest.is_local(value)
        return value if value and not local else None

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

    @staticmethod
    def _managed_pid(files: KafkaFiles) -> int | None:
        pid = read_pid(files.pid_file)
        if pid is None or not pid_alive(pid, cmd_contains=MAIN_CLASS):
            return None
        # the same node's broker: its command line names this node's server.properties
        return pid if pid_alive(pid, cmd_contains=str(files.config)) else None

    def _spawned(self, layout: KafkaLayout, node: int) -> bool:
        """Whether the process ``up`` spawned for ``node`` still exists (whatever it shows)."""
        pid = read_pid(self.node_files(layout, node).pid_file)
        return pid is not None and pid_alive(pid)

    def _running(self, layout: KafkaLayout) -> dict[int, int]:
        """Node → pid of the nodes of ``layout`` that ``up`` started and that still run."""
        pids = {n: self._managed_pid(self.node_files(layout, n)) for n in layout.nodes}
        return {node: pid for node, pid in pids.items() if pid is not None}

    async def _node(self, layout: KafkaLayout, node: int) -> BrokerReport:
        files = self.node_files(layout, node)
        pid = self._managed_pid(files)
        answers = await kafka_answers(bootstrap=layout.address(node), max_wait=3.0)
        state: State = "running" if answers else "starting" if pid else "stopped"
        return BrokerReport(
            node=node,
            endpoint=layout.address(node),
            state=state,
            pid=pid,
            log=str(files.log_file),
            data_dir=str(files.data_dir),
        )

    async def _report(self, layout: KafkaLayout, *, action: Action | None) -> ServiceReport:
        """The local broker(s) of ``layout`` as they are now."""
        nodes = list(await asyncio.gather(*(self._node(layout, n) for n in layout.nodes)))
        fields: dict[str, Any] = {"name": "kafka", "source": "local", "action": action}
        if layout.brokers == 1:
            only = nodes[0]
            if only.pid is None and only.state == "running":
                return ServiceReport.model_validate(
                    fields | {"endpoint": only.endpoint, "state": "running", "detail": FOREIGN}
                )
            fields |= {"pid": only.pid, "log": only.log, "data_dir": only.data_dir}
            return ServiceReport.model_validate(
                fields
                | {"endpoint": only.endpoint, "state": only.state, "managed": bool(only.pid)}
                | {"brokers": nodes}
            )
        states = {n.state for n in nodes}
        up = sum(1 for n in nodes if n.state == "running")
        state: State = (
            next(iter(states))
            if len(states) == 1
            else "starting"
            if all(n.pid for n in nodes)
            else "degraded"
        )
        replication = default_replication(brokers=layout.brokers)
        detail = (
            f"{up} of {layout.brokers} brokers running (KRaft, each a controller); topics "
            f"get replication {replication}, min.insync.replicas "
            f"{min_insync_replicas(replication=replication)}"
        )
        return ServiceReport.model_validate(
            fields
            | {"endpoint": layout.bootstrap, "state": state, "detail": detail}
            | {"managed": any(n.pid for n in nodes), "brokers": nodes}
        )

    async def status(self) -> ServiceReport:
        """Whether the broker(s) answer, and who runs them."""
        if (configured := self.configured) is not None:
            return await self._configured(configured, None)
        return await self._report(self.layout, action=None)

    def target_layout(self, *, brokers: int | None) -> KafkaLayout:
        """The shape ``up`` brings about: what runs when ``brokers`` is unset, else asked."""
        current = self.layout
        if self._running(current) and brokers is None:
            return current  # reuse what runs, restarting any node that died
        wanted = KafkaLayout(
            brokers=brokers or current.brokers, port=self.settings.stack_kafka_port
        )
        if self._running(current) and wanted != current:
            raise StackError(
                f"the local Kafka in {self.root} runs {current.brokers} broker(s) at "
                f"{current.bootstrap}; stop it with `baton stack down` before starting "
                f"{wanted.brokers} at {wanted.bootstrap}",
                home=str(self.settings.home),
            )
        return wanted

    async def up(self, *, max_wait: float = 120.0, brokers: int | None = None) -> ServiceReport:
        """Use the configured broker, reuse the running local one(s), or start them.

        Args:
            max_wait: Seconds the brokers may take to answer.
            brokers: How many local brokers; unset, as many as this home last ran (one
                the first time). A node of a running cluster that died is started again.

        Raises:
            StackError: the configured broker does not answer, a local port is taken,
                Java or Maven is missing, the brokers do not start in ``max_wait``, or a
                local Kafka of another shape runs in this home.
        """
        if (configured := self.configured) is not None:
            report = await self._configured(configured, "reused")
            if report.state != "running":
                raise StackError(
                    f"BATON_KAFKA_BOOTSTRAP={configured} does not answer. Start that broker, "
                    "or unset BATON_KAFKA_BOOTSTRAP so that `baton stack up` starts a local "
                    f"one at {self.layout.address(1)}.",
                    bootstrap=configured,
                )
            log.info("kafka: using configured broker %s", configured)
            return report
        layout = self.target_layout(brokers=brokers)
        running = self._running(layout)
        if not running and layout.brokers == 1:
            self.files.pid_file.unlink(missing_ok=True)
            if await kafka_answers(bootstrap=layout.address(1)):
                log.info("kafka: using a broker not started by baton at %s", layout.address(1))
                return await self._report(layout, action="reused")
        missing = [n for n in layout.nodes if n not in running]
        for node in missing:
            for port in (layout.broker_port(node), layout.controller_port(node)):
                if await port_open(layout.host, port):
                    raise StackError(
                        f"port {layout.host}:{port} is taken by a process that is not a Kafka "
                        "broker started by baton; stop it, set BATON_STACK_KAFKA_PORT to "
                        "free ports, or set BATON_KAFKA_BOOTSTRAP to your broker."
                    )
        if missing:
            await self._start(layout, missing)
        elif running:
            log.info("kafka: local broker(s) already running (pids %s)", sorted(running.values()))
        started = time.monotonic()
        await self._wait_ready(layout, max_wait=max_wait)
        if missing:
            log.info(
                "kafka: %d broker(s) ready in %.1fs", layout.brokers, time.monotonic() - started
            )
        return await self._report(layout, action="started" if missing else "reused")

    async def _start(self, layout: KafkaLayout, nodes: list[int]) -> None:
        """Configure, format (once) and spawn ``nodes`` of ``layout``."""
        java = await self.files.java()
        await self.files.fetch_jars()
        self.root.mkdir(parents=True, exist_ok=True)
        self.layout_file.write_text(layout.model_dump_json() + "\n", "utf-8")
        cluster_id = None if layout.brokers == 1 else await self._cluster_id(java=java)
        for node in nodes:
            files = self.node_files(layout, node)
            files.pid_file.unlink(missing_ok=True)
            files.write_configs(partitions=self.settings.partitions, layout=layout, node=node)
            await files.format_storage(java=java, cluster_id=cluster_id)
            files.spawn(java=java)
        log.info("kafka: waiting for %s to answer...", layout.bootstrap)

    async def _cluster_id(self, *, java: str) -> str:
        """The id every node of this home's cluster is formatted with (made once)."""
        path = self.root / "cluster" / "cluster.id"
        with contextlib.suppress(OSError):
            if known := path.read_text("utf-8").strip():
                return known
        path.parent.mkdir(parents=True, exist_ok=True)
        cluster_id = await self.files.new_cluster_id(java=java)
        path.write_text(cluster_id + "\n", "utf-8")
        return cluster_id

    async def down(self) -> ServiceReport:
        """Stop the local broker(s) ``up`` started; leave any other broker alone."""
        layout = self.layout
        if running := self._running(layout):
            log.info("kafka: stopping local broker(s) (pids %s)...", sorted(running.values()))
            await asyncio.gather(
                *(terminate(pid, name=f"kafka broker {node}") for node, pid in running.items())
            )
            for node in layout.nodes:
                self.node_files(layout, node).pid_file.unlink(missing_ok=True)
            log.info("kafka: stopped")
            report = await self._report(layout, action="stopped")
            return report.model_copy(update={"managed": True, "pid": running.get(1)})
        for node in layout.nodes:
            self.node_files(layout, node).pid_file.unlink(missing_ok=True)
        if (configured := self.configured) is not None:
            return await self._configured(configured, "left-alone")
        report = await self._report(layout, action=None)
        action: Action = "already-stopped" if report.state == "stopped" else "left-alone"
        return report.model_copy(update={"action": action})

    async def _wait_ready(self, layout: KafkaLayout, *, max_wait: float) -> None:
        """Wait until every node runs, answers, and lists every broker as live."""
        deadline = time.monotonic() + max_wait
        while True:
            sizes = await asyncio.gather(
                *(cluster_size(bootstrap=layout.address(n), max_wait=3.0) for n in layout.nodes)
            )
            size = min(sizes)
            running = self._running(layout)
            if size >= layout.brokers and len(running) == layout.brokers:
                return
            # Dead means gone: a starting JVM under heavy load was once taken for dead by
            # the command-line check alone (its log then showed a normal start).
            dead = [n for n in layout.nodes if n not in running and not self._spawned(layout, n)]
            if dead or time.monotonic() > deadline:
                files = self.node_files(layout, (dead or layout.nodes)[0])
                what = "exited during start-up" if dead else f"did not answer in {max_wait:.0f}s"
                if dead:
                    files.pid_file.unlink(missing_ok=True)
                raise StackError(
                    f"the local Kafka broker of {files.config} {what} "
                    f"(the nodes see {size} of {layout.brokers} brokers live at "
                    f"{layout.bootstrap}); "
                    f"see {files.log_file}:\n{tail(files.log_file)}",
                    log=str(files.log_file),
                )
            await asyncio.sleep(0.5)

"""Files and processes of the local Kafka brokers: layout, Java, jars, configuration,
storage, start."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from string import Template

from pydantic import BaseModel, ConfigDict, Field

from baton.config import LOCAL_KAFKA_HOST, LOCAL_KAFKA_PORT
from baton.errors import StackError
from baton.stack._common import log, resource_text, run_command

__all__ = [
    "KAFKA_VERSION",
    "MAIN_CLASS",
    "MAX_BROKERS",
    "NODE_PORT_STRIDE",
    "KafkaFiles",
    "KafkaLayout",
    "default_replication",
    "min_insync_replicas",
    "render_server_properties",
]

KAFKA_VERSION = "4.1.1"
"""Apache Kafka version of the local broker (also in ``resources/pom.xml``)."""
MAIN_CLASS = "kafka.Kafka"
JAVA_HINT = (
    "Install Java 17 or newer (e.g. `apt-get install openjdk-17-jre-headless`), "
    "or set BATON_KAFKA_BOOTSTRAP to a running broker."
)
MAVEN_HINT = (
    "Install Maven (e.g. `apt-get install maven`) to fetch the Kafka jars once, "
    "or set BATON_KAFKA_BOOTSTRAP to a running broker."
)


MAX_BROKERS = 5
"""Most brokers ``baton stack up --brokers N`` starts (each one is a JVM)."""
NODE_PORT_STRIDE = 10
"""Broker ``n`` listens on the base port + 10·(n-1): clear of the secured broker (19094)."""
MAX_REPLICATION = 3


def default_replication(*, brokers: int) -> int:
    """Replication of a topic when none is configured: three, or every broker when fewer."""
    return max(1, min(MAX_REPLICATION, brokers))


def min_insync_replicas(*, replication: int) -> int:
    """``min.insync.replicas`` for ``replication``: two of three, so acks=all survives one
    broker's loss without losing an acknowledged record; one below three replicas."""
    return 2 if replication >= MAX_REPLICATION else 1


class KafkaLayout(BaseModel):
    """Shape of the local Kafka: how many brokers, on which ports.

    Every node is broker and controller (KRaft combined mode), so that three nodes keep a
    controller quorum when one is lost. Node ``n`` (1-based) listens on ``port`` + 10·(n-1)
    and its controller on the next port.

    Attributes:
        brokers: Number of nodes.
        port: The first node's broker port.
        host: Loopback address every node listens on.
    """

    model_config = ConfigDict(frozen=True)

    brokers: int = Field(default=1, ge=1, le=MAX_BROKERS)
    port: int = Field(default=LOCAL_KAFKA_PORT, ge=1024, le=65000)
    host: str = LOCAL_KAFKA_HOST

    @property
    def nodes(self) -> list[int]:
        """Node ids, ``1..brokers``."""
        return list(range(1, self.brokers + 1))

    def broker_port(self, node: int) -> int:
        """Client port of node ``node``."""
        return self.port + NODE_PORT_STRIDE * (node - 1)

    def controller_port(self, node: int) -> int:
        """Controller port of node ``node``: the one after its broker port."""
        return self.broker_port(node) + 1

    def address(self, node: int) -> str:
        """``host:port`` clients use for node ``node``."""
        return f"{self.host}:{self.broker_port(node)}"

    @property
    def bootstrap(self) -> str:
        """Every node's address, comma separated (``BATON_KAFKA_BOOTSTRAP``)."""
        return ",".join(self.address(node) for node in self.nodes)

    @property
    def replication(self) -> int:
        """Replication of internal topics (offsets, transactions) and the default."""
        return default_replication(brokers=self.brokers)

    def is_local(self, bootstrap: str) -> bool:
        """Whether every address of ``bootstrap`` is one of this layout's nodes."""
        own = {
            f"{host}:{self.broker_port(n)}" for n in self.nodes for host in (self.host, "localhost")
        }
        given = [item.strip() for item in bootstrap.split(",") if item.strip()]
        return bool(given) and set(given) <= own


def render_server_properties(
    *, data_dir: Path, partitions: int, layout: KafkaLayout | None = None, node: int = 1
) -> str:
    """``server.properties`` of node ``node`` of ``layout``: KRaft, loopback only.

    Args:
        data_dir: The node's log directory.
        partitions: Default partitions of a topic.
        layout: The local Kafka's shape; unset, one broker on the default port.
        node: Which node (1-based).
    """
    layout = layout or KafkaLayout()
    replication = layout.replication
    voters = ",".join(f"{n}@{layout.host}:{layout.controller_port(n)}" for n in layout.nodes)
    return Template(resource_text("server.properties")).substitute(
        node_id=node,
        voters=voters,
        host=layout.host,
        broker_port=layout.broker_port(node),
        controller_port=layout.controller_port(node),
        data_dir=data_dir,
        partitions=partitions,
        replication=replication,
        min_isr=min_insync_replicas(replication=replication),
    )


class KafkaFiles:
    """Where a local broker keeps jars, data, configuration, log and pid file.

    Args:
        root: ``<home>/kafka`` for the single broker, ``<home>/kafka/cluster/node-<n>`` for
            a node of a cluster.
        jars_root: Where the jars are fetched (``<root>/<version>/libs``); unset, ``root``.
            The nodes of a cluster share the single broker's.
    """

    def __init__(self, *, root: Path, jars_root: Path | None = None) -> None:
        self.root = root
        self.dist = (jars_root or root) / KAFKA_VERSION
        self.libs = self.dist / "libs"
        self.marker = self.dist / "libs.complete"
        self.data_dir = root / "data"
        self.config = root / "server.properties"
        self.log4j = root / "log4j2.xml"
        self.log_file = root / "server.log"
        self.pid_file = root / "kafka.pid"

    async def java(self) -> str:
        """Path of a Java 17+ ``java`` (``$JAVA_HOME`` first).

        Raises:
            StackError: no Java, or one older than 17; says what to install.
        """
        java_home = os.environ.get("JAVA_HOME")
        candidate = Path(java_home, "bin", "java") if java_home else None
        java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
        if java is None:
            raise StackError(f"`java` was not found: the local Kafka broker needs it. {JAVA_HINT}")
        out = await run_command([java, "-version"], what="checking Java", hint=JAVA_HINT)
        found = re.search(r'version "(\d+)(?:\.(\d+))?', out)
        major = int(found.group(1)) if found else 0
        if major == 1 and found and found.group(2):
            major = int(found.group(2))
        if major < 17:
            raise StackError(
                f"Kafka {KAFKA_VERSION} needs Java 17+, found: {out.strip()[:80]}. {JAVA_HINT}"
            )
        return java

    def jars_ready(self) -> bool:
        """Whether an earlier run fetched every jar (the marker is written last)."""
        return self.marker.exists() and any(self.libs.glob("kafka_2.13-*.jar"))

    async def fetch_jars(self) -> None:
        """Fetch Kafka's jars with Maven into ``libs`` unless an earlier run did.

        Raises:
            StackError: Maven is missing or fails.
        """
        if self.jars_ready():
            return
        if shutil.which("mvn") is None:
            raise StackError(f"`mvn` was not found: it fetches the Kafka jars. {MAVEN_HINT}")
        self.dist.mkdir(parents=True, exist_ok=True)
        pom = self.dist / "pom.xml"
        pom.write_text(resource_text("pom.xml"), "utf-8")
        partial = self.dist / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        log.info(
            "kafka: fetching Apache Kafka %s jars from Maven Central into %s "
            "(first run only, about a minute)...",
            KAFKA_VERSION,
            self.libs,
        )
        started = time.monotonic()
        mvn = ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
        await run_command(
            [*mvn, f"-DoutputDirectory={partial}", "-DincludeScope=runtime"],
            what="fetching the Kafka jars with Maven",
            hint="Check network access to Maven Central (repo.maven.apache.org).",
            max_wait=900.0,
        )
        shutil.rmtree(self.libs, ignore_errors=True)
        partial.rename(self.libs)
        self.marker.write_text(f"{KAFKA_VERSION}\n", "utf-8")
        count = len(list(self.libs.glob("*.jar")))
        log.info("kafka: %d jars fetched in %.0fs", count, time.monotonic() - started)

    def write_configs(
        self, *, partitions: int, layout: KafkaLayout | None = None, node: int = 1
    ) -> None:
        """Render node ``node``'s ``server.properties`` and the log4j2 configuration."""
        self.root.mkdir(parents=True, exist_ok=True)
        props = render_server_properties(
            data_dir=self.data_dir, partitions=partitions, layout=layout, node=node
        )
        self.config.write_text(props, "utf-8")
        self.log4j.write_text(resource_text("log4j2.xml"), "utf-8")

    def _jvm(self, java: str) -> list[str]:
        return [java, "-cp", f"{self.libs}/*", f"-Dlog4j2.configurationFile={self.log4j}"]

    @property
    def formatted(self) -> bool:
        """Whether the KRaft storage is formatted (``meta.properties`` exists)."""
        return (self.data_dir / "meta.properties").exists()

    async def new_cluster_id(self, *, java: str) -> str:
        """A fresh KRaft cluster id from Kafka's storage tool."""
        tool = [*self._jvm(java), "kafka.tools.StorageTool"]
        out = await run_command([*tool, "random-uuid"], what="creating a Kafka cluster id")
        return out.strip().splitlines()[-1].strip()

    async def format_storage(
        self, *, java: str, extra: Sequence[str] = (), cluster_id: str | None = None
    ) -> None:
        """Format the KRaft storage once (``meta.properties`` marks it done).

        Args:
            java: The ``java`` to run Kafka's storage tool with.
            extra: More arguments of ``format`` (``--add-scram ...`` for the secured broker).
            cluster_id: The cluster this node joins (every node of a cluster has the same);
                unset, a new one.
        """
        if self.formatted:
            return
        log.info("kafka: formatting KRaft storage in %s...", self.data_dir)
        tool = [*self._jvm(java), "kafka.tools.StorageTool"]
        cluster_id = cluster_id or await self.new_cluster_id(java=java)
        await run_command(
            [*tool, "format", "-t", cluster_id, "-c", str(self.config), *extra],
            what="formatting the Kafka storage",
            hint=f"Remove {self.data_dir} if it holds a broken earlier attempt.",
        )

    def spawn(self, *, java: str) -> int:
        """Start the broker detached from this process; write and return its pid."""
        log.info("kafka: starting broker %s (log: %s)...", self.config, self.log_file)
        args = [*self._jvm(java), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC"]
        args += ["-Djava.awt.headless=true", MAIN_CLASS, str(self.config)]
        # One start's log, plus the one before (a crashed broker's last words survive a restart).
        if self.log_file.exists():
            self.log_file.replace(self.log_file.with_name(self.log_file.name + ".1"))
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n", "utf-8")
        return proc.pid

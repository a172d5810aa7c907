"""Files and processes of the local Kafka broker: Java, jars, configuration, storage, start."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from string import Template

from baton.config import LOCAL_KAFKA_BOOTSTRAP
from baton.errors import StackError
from baton.stack._common import log, resource_text, run_command

__all__ = ["KAFKA_VERSION", "MAIN_CLASS", "KafkaFiles", "render_server_properties"]

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


def render_server_properties(*, data_dir: Path, partitions: int) -> str:
    """The local broker's ``server.properties``: KRaft, one node, loopback only."""
    host, port = LOCAL_KAFKA_BOOTSTRAP.rsplit(":", 1)
    return Template(resource_text("server.properties")).substitute(
        host=host,
        broker_port=int(port),
        controller_port=int(port) + 1,
        data_dir=data_dir,
        partitions=partitions,
    )


class KafkaFiles:
    """Where the local broker keeps jars, data, configuration, log and pid file.

    Args:
        root: ``<home>/kafka``.
    """

    def __init__(self, *, root: Path) -> None:
        self.root = root
        self.dist = root / KAFKA_VERSION
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

    def write_configs(self, *, partitions: int) -> None:
        """Render ``server.properties`` and the log4j2 configuration into ``root``."""
        self.root.mkdir(parents=True, exist_ok=True)
        props = render_server_properties(data_dir=self.data_dir, partitions=partitions)
        self.config.write_text(props, "utf-8")
        self.log4j.write_text(resource_text("log4j2.xml"), "utf-8")

    def _jvm(self, java: str) -> list[str]:
        return [java, "-cp", f"{self.libs}/*", f"-Dlog4j2.configurationFile={self.log4j}"]

    async def format_storage(self, *, java: str, extra: Sequence[str] = ()) -> None:
        """Format the KRaft storage once (``meta.properties`` marks it done).

        Args:
            java: The ``java`` to run Kafka's storage tool with.
            extra: More arguments of ``format`` (``--add-scram ...`` for the secured broker).
        """
        if (self.data_dir / "meta.properties").exists():
            return
        log.info("kafka: formatting KRaft storage in %s...", self.data_dir)
        tool = [*self._jvm(java), "kafka.tools.StorageTool"]
        out = await run_command([*tool, "random-uuid"], what="creating a Kafka cluster id")
        cluster_id = out.strip().splitlines()[-1].strip()
        await run_command(
            [*tool, "format", "-t", cluster_id, "-c", str(self.config), *extra],
            what="formatting the Kafka storage",
            hint=f"Remove {self.data_dir} if it holds a broken earlier attempt.",
        )

    def spawn(self, *, java: str) -> int:
        """Start the broker detached from this process; write and return its pid."""
        log.info("kafka: starting broker (log: %s)...", self.log_file)
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

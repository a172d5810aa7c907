"""The `kafka-acls.sh` lines of `baton acl plan` run with Apache Kafka's own ACL tool
against the secured broker: every line is accepted, and the broker then holds each binding
of the plan, exactly once (deleting the plan's bindings matches one ACL each).

kafka-acls.sh is ``kafka-run-class.sh org.apache.kafka.tools.AclCommand "$@"``: each line's
arguments go to that ``main``, all lines in one JVM (a JVM per line takes minutes on a
busy machine); a line it refuses exits the JVM non-zero. The tool's jars (kafka-tools, not
part of the broker's) are fetched once with Maven next to the broker's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import pytest

from baton.security.acl import _DeleteAll, _row
from baton.security.acl_plan import AclPlan
from baton.stack._kafka_setup import KAFKA_VERSION
from baton.stack.secure_kafka import ADMIN
from tests.security.conftest import SecureKafka

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TOOLS_POM = f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.baton.local</groupId>
  <artifactId>baton-kafka-tools</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""
RUNNER = """
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Runs AclCommand once per command of the file: one argument a line, a blank line after each. */
public class RunAclCommands {
    public static void main(String[] files) throws Exception {
        List<String> args = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of(files[0]))) {
            if (!line.isEmpty()) {
                args.add(line);
                continue;
            }
            org.apache.kafka.tools.AclCommand.main(args.toArray(new String[0]));
            args.clear();
        }
    }
}
"""


async def _run(argv: list[str], *, what: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, f"{what} exited {proc.returncode}: {out.decode()[-2000:]}"


async def _tool_jars(kafka: SecureKafka) -> Path:
    """kafka-tools and its dependencies, fetched once into ``<jars>/<version>/tools``."""
    dist = kafka.stack.files.dist
    tools, marker = dist / "tools", dist / "tools.complete"
    if marker.exists():
        return tools
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "tools-pom.xml").write_text(TOOLS_POM, "utf-8")
    partial = dist / "tools.partial"
    shutil.rmtree(partial, ignore_errors=True)
    mvn = ["mvn", "-q", "-B", "-f", str(dist / "tools-pom.xml"), "dependency:copy-dependencies"]
    await _run(
        [*mvn, f"-DoutputDirectory={partial}", "-DincludeScope=runtime"], what="mvn (kafka-tools)"
    )
    shutil.rmtree(tools, ignore_errors=True)
    partial.rename(tools)
    marker.write_text(f"{KAFKA_VERSION}\n", "utf-8")
    return tools


def _admin_properties(kafka: SecureKafka, path: Path) -> Path:
    stack = kafka.stack
    password = stack.password_file(ADMIN).read_text("utf-8").strip()
    path.write_text(
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN}" password="{password}";\n'
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={stack.files.tls.ca_cert}\n",
        "utf-8",
    )
    os.chmod(path, 0o600)
    return path


async def test_kafka_acls_lines_apply_cleanly_and_create_exactly_the_plan(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    stack = secure_kafka.stack
    tools = await _tool_jars(secure_kafka)
    java = shutil.which("java")
    assert java is not None
    classpath = f"{stack.files.libs}/*:{tools}/*"
    # A prefix of its own: the session's ACLs (applied by the stack) are not counted.
    plan = AclPlan.build(topic_prefix=f"t_acl_{uuid.uuid4().hex[:8]}")
    config = _admin_properties(secure_kafka, tmp_path / "admin.properties")
    commands = plan.kafka_acls_commands(bootstrap=stack.bootstrap, command_config=str(config))
    script = tmp_path / "commands.txt"
    lines = []
    for argv in commands:
        assert argv[0] == "kafka-acls.sh"
        assert not any("\n" in arg or not arg for arg in argv)
        lines += [*argv[1:], ""]
    script.write_text("\n".join(lines) + "\n", "utf-8")
    runner = tmp_path / "RunAclCommands.java"
    runner.write_text(RUNNER, "utf-8")
    try:
        await _run([java, "-cp", classpath, str(runner), str(script)], what="AclCommand")
    finally:
        async with stack._admin() as admin:  # the stack's own admin client
            response = await admin._send_request(_DeleteAll([_row(b) for b in plan.bindings]))
    matched = [len(r[2]) for r in response.filter_responses]
    errors = [r[0] for r in response.filter_responses]
    print(f"kafka-acls.sh lines: {len(commands)}, bindings matched once: {matched.count(1)}")
    assert errors == [0] * len(plan.bindings)
    assert matched == [1] * len(plan.bindings)  # each binding of the plan, exactly once

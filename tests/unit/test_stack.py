"""The local stack's resources and decisions that need no running service."""

from __future__ import annotations

from pathlib import Path

from baton.config import LOCAL_KAFKA_BOOTSTRAP, LOCAL_PG_DSN, BatonSettings
from baton.stack import KAFKA_VERSION, ServiceReport, StackReport
from baton.stack._common import resource_text
from baton.stack.kafka import KafkaStack, render_server_properties
from baton.stack.postgres import PostgresStack


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def test_server_properties_is_a_single_kraft_node_on_the_local_ports(tmp_path: Path) -> None:
    props = properties(render_server_properties(data_dir=tmp_path / "data", partitions=6))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == (
        f"PLAINTEXT://{LOCAL_KAFKA_BOOTSTRAP},CONTROLLER://127.0.0.1:19093"
    )
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["auto.create.topics.enable"] == "false"
    assert props["num.partitions"] == "6"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["log.dirs"] == str(tmp_path / "data")


def test_pom_fetches_the_kafka_version_the_stack_runs() -> None:
    pom = resource_text("pom.xml")
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert f"<version>{KAFKA_VERSION}</version>" in pom
    assert "log4j-slf4j-impl" in pom
    assert "<Console" in resource_text("log4j2.xml")


def test_local_addresses_in_the_environment_still_mean_the_local_stack(tmp_path: Path) -> None:
    local = BatonSettings(home=tmp_path, kafka_bootstrap=LOCAL_KAFKA_BOOTSTRAP, pg_dsn=LOCAL_PG_DSN)
    assert KafkaStack(settings=local).configured is None
    assert PostgresStack(settings=local).configured is None
    remote = BatonSettings(
        home=tmp_path, kafka_bootstrap="kafka:9092", pg_dsn="postgresql://u@db:5432/x"
    )
    assert KafkaStack(settings=remote).configured == "kafka:9092"
    assert PostgresStack(settings=remote).configured == "postgresql://u@db:5432/x"


def test_report_env_points_at_the_endpoints() -> None:
    kafka = ServiceReport(name="kafka", endpoint="k:1", source="configured", state="running")
    pg = ServiceReport(name="postgres", endpoint="postgresql://x", source="local", state="stopped")
    report = StackReport(kafka=kafka, postgres=pg, home="/h")
    assert report.env() == {"BATON_KAFKA_BOOTSTRAP": "k:1", "BATON_PG_DSN": "postgresql://x"}
    assert report.model_dump(mode="json")["kafka"]["state"] == "running"


def test_secure_broker_properties_use_sasl_ssl_and_the_authorizer() -> None:
    text = resource_text("server-secure.properties")
    assert "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT" in text
    assert "sasl.enabled.mechanisms=SCRAM-SHA-512" in text
    assert "StandardAuthorizer" in text
    assert "allow.everyone.if.no.acl.found=false" in text
    assert "PLAINTEXT://" not in text.replace("SASL_PLAINTEXT", "")


def test_secure_broker_has_its_own_ports_and_files(tmp_path: Path) -> None:
    from baton.stack.secure_kafka import LOCAL_SECURE_KAFKA_BOOTSTRAP, SecureKafkaStack

    stack = SecureKafkaStack(settings=BatonSettings(home=tmp_path))
    plain = KafkaStack(settings=BatonSettings(home=tmp_path))
    assert LOCAL_SECURE_KAFKA_BOOTSTRAP != LOCAL_KAFKA_BOOTSTRAP
    assert {stack.port, stack.port + 1}.isdisjoint({plain.port, plain.port + 1})
    assert stack.files.data_dir != plain.files.data_dir
    assert stack.files.libs == plain.files.libs  # jars fetched once
    env = stack.env(user="hub")
    assert env["BATON_KAFKA_SASL_PASSWORD_FILE"].endswith("hub.password")
    assert "BATON_KAFKA_SASL_PASSWORD" not in env  # by file, never the value


def test_service_acls_keep_each_service_to_its_own() -> None:
    from baton.security.acl import Operation, service_acls

    acls = service_acls(prefix="p")
    writes = {(a.principal, a.name) for a in acls if a.operation is Operation.WRITE}
    assert ("User:hub", "p.commands.hub") in writes
    assert ("User:hub", "p.commands.resource") in writes  # the hub asks for resources
    assert ("User:status", "p.commands.hub") not in writes
    assert ("User:monitor", "p.state") not in writes
    groups = {(a.principal, a.name) for a in acls if a.resource_type.name == "GROUP"}
    reads = {(a.principal, a.name) for a in acls if a.operation is Operation.READ}
    assert ("User:status", "p.status") in groups & reads
    assert all(not (p != f"User:{n.split('.')[1]}" and (p, n) in reads) for p, n in groups)


def test_the_monitor_describes_every_topic_and_group_but_reads_only_its_own() -> None:
    from baton.security.acl import Operation, PatternType, service_acls

    monitor = [a for a in service_acls(prefix="p") if a.principal == "User:monitor"]
    wide = {(a.resource_type.name, a.operation) for a in monitor if a.name == "p."}
    assert wide == {("TOPIC", Operation.DESCRIBE), ("GROUP", Operation.DESCRIBE)}
    assert all(a.pattern is PatternType.PREFIXED for a in monitor if a.name == "p.")
    reads = {a.name for a in monitor if a.operation is Operation.READ}
    others = [n for n in reads if n.startswith("p.commands.") and n != "p.commands.monitor"]
    assert not others


def test_clients_call_every_service_but_cannot_act_as_one() -> None:
    from baton.security.acl import Operation, PatternType, baton_acls, client_acls

    client = client_acls(prefix="p")
    assert all(a.principal == "User:client" for a in client)
    assert set(client) <= set(baton_acls(prefix="p"))
    writes = {a.name for a in client if a.operation is Operation.WRITE}
    assert {"p.events", "p.replies", "p.commands.hub", "p.commands.recovery"} <= writes
    assert "p.state" not in writes
    assert "p.hub" not in writes
    reads = {(a.resource_type.name, a.name) for a in client if a.operation is Operation.READ}
    assert not [n for kind, n in reads if kind == "TOPIC" and n.startswith("p.commands")]
    assert {n for kind, n in reads if kind == "GROUP"} == {"p.client.", "p.agent."}
    commands = [a for a in client if a.name.startswith("p.commands.")]
    assert all(a.pattern is PatternType.LITERAL for a in commands)  # not their retry topics

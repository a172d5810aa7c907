"""The local stack's resources and decisions that need no running service."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from baton.cli.app import app as cli
from baton.config import LOCAL_KAFKA_BOOTSTRAP, LOCAL_PG_DSN, BatonSettings
from baton.errors import ConfigError
from baton.stack import KAFKA_VERSION, ServiceReport, StackReport
from baton.stack._common import resource_text
from baton.stack.kafka import MAX_BROKERS, KafkaLayout, KafkaStack, render_server_properties
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
    assert props["group.initial.rebalance.delay.ms"] == "250"
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
    from baton.security.acl import Operation, PatternType, client_acls
    from baton.security.acl_plan import AclPlan

    client = client_acls(prefix="p")
    assert all(a.principal == "User:client" for a in client)
    assert set(client) <= set(AclPlan.build(topic_prefix="p").bindings)
    writes = {a.name for a in client if a.operation is Operation.WRITE}
    assert {"p.events", "p.replies", "p.commands.hub", "p.commands.recovery"} <= writes
    assert "p.state" not in writes
    assert "p.hub" not in writes
    reads = {(a.resource_type.name, a.name) for a in client if a.operation is Operation.READ}
    assert not [n for kind, n in reads if kind == "TOPIC" and n.startswith("p.commands")]
    assert {n for kind, n in reads if kind == "GROUP"} == {"p.client.", "p.agent."}
    commands = [a for a in client if a.name.startswith("p.commands.")]
    assert all(a.pattern is PatternType.LITERAL for a in commands)  # not their retry topics


def test_default_broker_replicates_nothing(tmp_path: Path) -> None:
    props = properties(render_server_properties(data_dir=tmp_path, partitions=6))
    assert props["default.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["unclean.leader.election.enable"] == "false"


def test_each_node_of_a_three_broker_cluster_is_a_voter_with_its_own_ports(
    tmp_path: Path,
) -> None:
    layout = KafkaLayout(brokers=3, port=39092)
    nodes = [
        properties(render_server_properties(data_dir=tmp_path, partitions=6, layout=layout, node=n))
        for n in layout.nodes
    ]
    voters = "1@127.0.0.1:39093,2@127.0.0.1:39103,3@127.0.0.1:39113"
    for node, props in enumerate(nodes, start=1):
        port = 39092 + 10 * (node - 1)
        assert props["node.id"] == str(node)
        assert props["process.roles"] == "broker,controller"
        assert props["controller.quorum.voters"] == voters
        assert props["listeners"] == (
            f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}"
        )
        assert props["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{port}"
        # internal topics survive a broker's loss; acks=all needs two copies
        assert props["offsets.topic.replication.factor"] == "3"
        assert props["transaction.state.log.replication.factor"] == "3"
        assert props["default.replication.factor"] == "3"
        assert props["min.insync.replicas"] == "2"
        assert props["transaction.state.log.min.isr"] == "2"
        assert props["unclean.leader.election.enable"] == "false"
    assert layout.bootstrap == "127.0.0.1:39092,127.0.0.1:39102,127.0.0.1:39112"


def test_cluster_ports_stay_clear_of_the_secured_broker() -> None:
    from baton.stack.secure_kafka import LOCAL_SECURE_KAFKA_BOOTSTRAP

    secure = int(LOCAL_SECURE_KAFKA_BOOTSTRAP.rsplit(":", 1)[1])
    widest = KafkaLayout(brokers=MAX_BROKERS)
    taken = {p for n in widest.nodes for p in (widest.broker_port(n), widest.controller_port(n))}
    assert len(taken) == 2 * MAX_BROKERS
    assert taken.isdisjoint({secure, secure + 1})


def test_the_stack_port_moves_the_local_broker(tmp_path: Path) -> None:
    settings = BatonSettings.from_env(
        {"BATON_STACK_KAFKA_PORT": "39092", "BATON_HOME": str(tmp_path)}
    )
    assert settings.bootstrap == "127.0.0.1:39092"
    stack = KafkaStack(settings=settings)
    assert stack.layout == KafkaLayout(brokers=1, port=39092)
    assert stack.node_files(stack.layout, 1).config == tmp_path / "kafka" / "server.properties"
    with pytest.raises(ConfigError, match="BATON_STACK_KAFKA_PORT"):
        BatonSettings.from_env({"BATON_STACK_KAFKA_PORT": "80"})


def test_a_recorded_cluster_is_what_status_down_and_env_follow(tmp_path: Path) -> None:
    settings = BatonSettings(home=tmp_path, stack_kafka_port=39092)
    stack = KafkaStack(settings=settings)
    cluster = KafkaLayout(brokers=3, port=39092)
    assert stack.target_layout(brokers=3) == cluster
    stack.layout_file.parent.mkdir(parents=True)
    stack.layout_file.write_text(cluster.model_dump_json())
    assert stack.layout == cluster
    assert stack.target_layout(brokers=None) == cluster  # a plain `up` restarts the cluster
    assert stack.target_layout(brokers=1) == KafkaLayout(brokers=1, port=39092)
    files = [stack.node_files(cluster, n) for n in cluster.nodes]
    assert len({f.data_dir for f in files} | {stack.files.data_dir}) == 4
    assert len({f.pid_file for f in files} | {stack.files.pid_file}) == 4
    assert {f.libs for f in files} == {stack.files.libs}  # the jars are fetched once
    # The cluster's own addresses are the local stack, not a configured broker.
    local = settings.model_copy(update={"kafka_bootstrap": cluster.bootstrap})
    assert KafkaStack(settings=local).configured is None
    remote = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:39092,kafka:9092"})
    assert KafkaStack(settings=remote).configured == "127.0.0.1:39092,kafka:9092"
    result = CliRunner().invoke(
        cli,
        ["stack", "env"],
        env={"BATON_HOME": str(tmp_path), "BATON_KAFKA_BOOTSTRAP": "", "BATON_PG_DSN": ""},
    )
    assert result.exit_code == 0, result.output
    assert f"export BATON_KAFKA_BOOTSTRAP={cluster.bootstrap}" in result.output


def test_the_stack_pg_port_moves_the_local_database(tmp_path: Path) -> None:
    settings = BatonSettings.from_env({"BATON_STACK_PG_PORT": "18432", "BATON_HOME": str(tmp_path)})
    assert settings.dsn == "postgresql://baton@127.0.0.1:18432/baton"
    assert BatonSettings().dsn == LOCAL_PG_DSN  # 55432 unless moved
    stack = PostgresStack(settings=settings)
    assert stack.cluster.port == 18432
    assert stack.cluster.dsn == settings.dsn
    # Its own address is the local stack; the default port is now another server.
    itself = settings.model_copy(update={"pg_dsn": settings.dsn})
    assert PostgresStack(settings=itself).configured is None
    moved = settings.model_copy(update={"pg_dsn": LOCAL_PG_DSN})
    assert PostgresStack(settings=moved).configured == LOCAL_PG_DSN
    with pytest.raises(ConfigError, match="BATON_STACK_PG_PORT"):
        BatonSettings.from_env({"BATON_STACK_PG_PORT": "80"})


def test_the_secured_broker_follows_the_stack_kafka_port(tmp_path: Path) -> None:
    from baton.stack.secure_kafka import LOCAL_SECURE_KAFKA_BOOTSTRAP, SecureKafkaStack

    assert SecureKafkaStack(settings=BatonSettings(home=tmp_path)).bootstrap == (
        LOCAL_SECURE_KAFKA_BOOTSTRAP
    )
    moved = SecureKafkaStack(settings=BatonSettings(home=tmp_path, stack_kafka_port=18092))
    assert moved.bootstrap == "127.0.0.1:18094"
    assert moved.env(user="hub")["BATON_KAFKA_BOOTSTRAP"] == "127.0.0.1:18094"

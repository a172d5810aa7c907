from __future__ import annotations

import re
from pathlib import Path

import pytest

from baton.config import LOCAL_KAFKA_BOOTSTRAP, BatonSettings, deployment_schema
from baton.errors import ConfigError


def test_defaults_and_topic_names() -> None:
    s = BatonSettings.from_env({})
    assert s.bootstrap == LOCAL_KAFKA_BOOTSTRAP
    t = s.topics
    assert t.events == "baton.events"
    assert t.state == "baton.state"
    assert t.commands("hub") == "baton.commands.hub"
    assert t.retry(t.events, 2) == "baton.events.retry.2"
    assert t.dlq(t.events) == "baton.events.dlq"


def test_env_values_are_parsed_and_unknown_prefixes_ignored() -> None:
    s = BatonSettings.from_env(
        {
            "BATON_TOPIC_PREFIX": "acme",
            "BATON_RETRY_DELAYS": "0.5, 2,10",
            "BATON_STRICT_TYPES": "PHASE_COMPLETED,TASK_ASSIGNED",
            "BATON_STRICT": "true",
            "HOME": "/somewhere",
        }
    )
    assert s.topics.events == "acme.events"
    assert s.retry_delays == (0.5, 2.0, 10.0)
    assert s.strict_types == frozenset({"PHASE_COMPLETED", "TASK_ASSIGNED"})
    assert s.strict is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BATON_PARTITIONS", "many"),
        ("BATON_REQUEST_TIMEOUT", "-1"),
        ("BATON_TOPIC_PREFIX", "has space"),
        ("BATON_LOG_LEVEL", "LOUD"),
        ("BATON_RETRY_DELAYS", "1,-2"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        BatonSettings.from_env({name: value})
    assert name in str(info.value)
    assert info.value.fields["variable"] == name


def test_service_configs_share_one_reader_that_names_the_variable() -> None:
    from baton_hub.config import HubConfig
    from baton_resource.config import ResourceConfig
    from baton_status.config import StatusConfig

    assert HubConfig.from_env({"BATON_HUB_TIMEOUT_INTERVAL": "2"}).timeout_interval == 2.0
    assert StatusConfig.from_env({}).list_limit == 500
    config = ResourceConfig.from_env({"BATON_RESOURCE_POOLS": '{"agents": 2}'})
    assert config.agent_names() == ["agent_001", "agent_002"]
    with pytest.raises(ConfigError) as info:
        ResourceConfig.from_env(
            {"BATON_RESOURCE_POOLS": '{"agents": 2}', "BATON_RESOURCE_AGENT_IDS": "a"}
        )
    assert info.value.fields["variable"] == "BATON_RESOURCE_AGENT_IDS"
    with pytest.raises(ConfigError) as info:
        HubConfig.from_env({"BATON_HUB_NOPE": "1"})
    assert info.value.fields["variable"] == "BATON_HUB_NOPE"


SECURE = {
    "BATON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "BATON_KAFKA_SASL_USERNAME": "hub",
}


def test_kafka_security_defaults_to_plaintext() -> None:
    security = BatonSettings.from_env({}).kafka_security
    assert security.protocol == "PLAINTEXT"
    assert security.client_options() == {"security_protocol": "PLAINTEXT"}


def test_sasl_password_is_secret_everywhere_but_the_client(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read until a client starts")
    s = BatonSettings.from_env(
        {**SECURE, "BATON_KAFKA_SASL_PASSWORD": "s3cret-pw", "BATON_KAFKA_CA_FILE": str(ca)}
    )
    for shown in (repr(s), str(s), s.model_dump_json(), s.kafka_security.describe()):
        assert "s3cret-pw" not in shown
    assert s.kafka_security.describe() == "SASL_SSL as hub"
    security = s.kafka_security.model_copy(update={"ca_file": None})
    options = security.client_options()
    assert options["sasl_plain_password"] == "s3cret-pw"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["ssl_context"].check_hostname


def test_sasl_password_from_a_mounted_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    s = BatonSettings.from_env({**SECURE, "BATON_KAFKA_SASL_PASSWORD_FILE": str(secret)})
    assert s.kafka_sasl_password is not None
    assert s.kafka_sasl_password.get_secret_value() == "from-file"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({}, "BATON_KAFKA_SASL_PASSWORD"),  # SASL without a password
        ({"BATON_KAFKA_SASL_PASSWORD_FILE": "/nonexistent/pw"}, "_FILE"),
        (
            {"BATON_KAFKA_SASL_PASSWORD": "x", "BATON_KAFKA_SASL_PASSWORD_FILE": "/x"},
            "not both",
        ),
        ({"BATON_KAFKA_SASL_PASSWORD": "x", "BATON_KAFKA_CA_FILE": "/nonexistent.pem"}, "CA"),
        ({"BATON_KAFKA_SECURITY_PROTOCOL": "TLS"}, "BATON_KAFKA_SECURITY_PROTOCOL"),
    ],
)
def test_bad_security_settings_fail_at_start(extra: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        BatonSettings.from_env({**SECURE, **extra})
    assert named in str(caught.value)


def test_an_invalid_password_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        BatonSettings.from_env({}, kafka_sasl_password=["s3cret-pw"])
    assert "s3cret-pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("prefix", "schema"),
    [
        ("baton", "public"),  # the default deployment keeps the tables it always had
        ("t_0a1b2c", "t_0a1b2c"),
        ("bench_9f", "bench_9f"),
    ],
)
def test_a_deployments_schema_is_named_after_its_prefix(prefix: str, schema: str) -> None:
    assert BatonSettings.from_env({"BATON_TOPIC_PREFIX": prefix}).db_schema == schema


def test_prefixes_that_are_no_plain_schema_name_get_distinct_valid_ones() -> None:
    prefixes = ["acme.prod", "acme_prod", "Acme_prod", "acme-prod", "9lives", "pg_x", "public"]
    prefixes.append("x" * 100)
    schemas = [deployment_schema(p) for p in prefixes]
    assert len(set(schemas)) == len(prefixes)
    assert schemas[1] == "acme_prod"
    for schema in schemas:
        assert re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema), schema
        assert not schema.startswith("pg_")
        assert schema != "public"
    assert schemas[0].startswith("acme_prod_")  # still readable


def test_the_schema_may_be_set_and_is_validated() -> None:
    env = {"BATON_TOPIC_PREFIX": "acme", "BATON_PG_SCHEMA": "shared_one"}
    assert BatonSettings.from_env(env).db_schema == "shared_one"
    for bad in ("Has-Dash", "pg_catalog", "1st"):
        with pytest.raises(ConfigError) as info:
            BatonSettings.from_env({"BATON_PG_SCHEMA": bad})
        assert info.value.fields["variable"] == "BATON_PG_SCHEMA"

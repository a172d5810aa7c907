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


def test_an_unknown_variable_is_refused_naming_the_nearest_one() -> None:
    with pytest.raises(ConfigError) as info:
        BatonSettings.from_env({"BATON_KAFKA_BOOTSTRAPS": "kafka:9092"})
    assert str(info.value) == (
        "unknown setting BATON_KAFKA_BOOTSTRAPS; did you mean BATON_KAFKA_BOOTSTRAP?"
    )
    assert info.value.variable == "BATON_KAFKA_BOOTSTRAPS"
    assert info.value.fields["suggestion"] == "BATON_KAFKA_BOOTSTRAP"
    assert info.value.exit_code == 2
    with pytest.raises(ConfigError) as info:
        BatonSettings.from_env({"BATON_WHATEVER": "1", "BATON_PARTITONS": "3"})
    assert info.value.variable == "BATON_PARTITONS"  # the first in order...
    assert info.value.fields["suggestion"] == "BATON_PARTITIONS"
    assert "BATON_WHATEVER" in str(info.value)  # ...and the others named too
    assert info.value.fields["unknown"] == ["BATON_PARTITONS", "BATON_WHATEVER"]


def test_a_services_section_is_its_own_to_check() -> None:
    from baton_hub.config import HubConfig

    env = {"BATON_HUB_TIMEOUT_INTRVAL": "2", "BATON_STATUS_LIST_LIMIT": "9"}
    assert BatonSettings.from_env(env).partitions == 6  # not the shared settings' business
    with pytest.raises(ConfigError) as info:
        HubConfig.from_env(env)
    assert info.value.fields["suggestion"] == "BATON_HUB_TIMEOUT_INTERVAL"


def test_variables_that_are_no_settings_are_accepted() -> None:
    env = {
        "BATON_TEST_HOME": "/tmp/t",
        "BATON_TEST_USER_PG_DSN": "postgresql://elsewhere/db",
        "BATON_FAULT_RUNS": "2",
        "BATON_IMAGE": "baton:1.0",
        "BATON_KUBE_VERSIONS": "1.29.0",
        "BATON_UID": "10001",
        "BATON_ROLES_TEST_DSN": "postgresql://x/y",
    }
    assert BatonSettings.from_env(env) == BatonSettings()


def test_built_directly_settings_ignore_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BATON_PARTITIONS", "9")
    monkeypatch.setenv("BATON_NOT_A_SETTING", "1")
    assert BatonSettings().partitions == 6
    assert BatonSettings(partitions=3).partitions == 3


def test_overrides_win_over_the_environment() -> None:
    env = {"BATON_COMPONENT": "from-env", "BATON_REQUEST_TIMEOUT": "5"}
    settings = BatonSettings.from_env(env, component="cli", request_timeout=None)
    assert (settings.component, settings.request_timeout) == ("cli", 5.0)


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        ("BATON_PG_DSN", "postgresql://app:pw@db:5432/baton", "dsn"),
        ("BATON_KAFKA_SASL_PASSWORD", "s3cret-pw", "kafka_sasl_password"),
        ("BATON_SIGNING_KEYS", "svc:" + "k" * 32, "signing_keys"),
    ],
)
def test_every_secret_may_come_from_a_file(
    tmp_path: Path, variable: str, value: str, read: str
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(f"{value}\n")
    env = {f"{variable}_FILE": str(secret)}
    if variable.startswith("BATON_KAFKA_SASL"):
        env |= {**SECURE, "BATON_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}
    settings = BatonSettings.from_env(env)
    got = getattr(settings, read)
    assert (got if isinstance(got, str) else got.get_secret_value()) == value
    assert value not in repr(settings)
    with pytest.raises(ConfigError) as info:
        BatonSettings.from_env({**env, variable: value})
    assert str(info.value) == f"set either {variable} or {variable}_FILE, not both"
    assert info.value.variable == f"{variable}_FILE"
    assert value not in str(info.value)


def test_an_empty_or_missing_secret_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, problem in ((empty, "empty"), (tmp_path / "missing", "unreadable")):
        with pytest.raises(ConfigError) as info:
            BatonSettings.from_env({"BATON_PG_DSN_FILE": str(path)})
        assert info.value.variable == "BATON_PG_DSN_FILE"
        assert info.value.fields["problem"] == problem


def test_a_bad_value_names_the_variable_and_what_is_wrong() -> None:
    with pytest.raises(ConfigError) as info:
        BatonSettings.from_env({"BATON_PARTITIONS": "0"})
    assert str(info.value).startswith("BATON_PARTITIONS: Input should be greater than")
    assert info.value.fields["problem"] == "Input should be greater than or equal to 1"
    assert str(info.value).endswith("(got '0')")
    with pytest.raises(ConfigError) as info:  # a rule across variables names the first
        BatonSettings.from_env({"BATON_SIGNING_STRICT": "true"})
    assert info.value.variable == "BATON_SIGNING_KEYS"


def test_a_bad_dsn_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        BatonSettings.from_env({}, pg_dsn=["postgresql://app:pw@db/baton"])
    assert info.value.variable == "BATON_PG_DSN"
    assert "pw@" not in str(info.value)

"""`baton acl plan`: the ACL plan printed as Strimzi KafkaUsers (checked against a model of
the KafkaUser v1beta2 schema) and as kafka-acls.sh lines (parsed back as kafka-acls.sh
reads them), both exactly the bindings the local secured broker applies."""

from __future__ import annotations

import argparse
import shlex
from typing import Literal

import orjson
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from typer.testing import CliRunner

from baton.cli.app import app
from baton.config import SERVICES
from baton.security.acl import CLIENT, AclBinding, Operation, PatternType, ResourceType
from baton.security.acl_plan import AclPlan
from baton.stack.secure_kafka import ADMIN, SecureKafkaStack

# --- the KafkaUser v1beta2 schema (Strimzi's CRD), as far as Baton's users use it ---------

StrimziOperation = Literal[
    "Read",
    "Write",
    "Create",
    "Delete",
    "Alter",
    "Describe",
    "ClusterAction",
    "AlterConfigs",
    "DescribeConfigs",
    "IdempotentWrite",
    "All",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AclRuleResource(_Strict):
    type: Literal["topic", "group", "cluster", "transactionalId"]
    name: str | None = None
    patternType: Literal["literal", "prefix"] = "literal"

    @model_validator(mode="after")
    def _named_unless_cluster(self) -> AclRuleResource:
        if (self.type == "cluster") != (self.name is None):
            raise ValueError("a cluster resource has no name; every other one has")
        return self


class AclRule(_Strict):
    type: Literal["allow", "deny"] = "allow"
    resource: AclRuleResource
    host: str = "*"
    operations: list[StrimziOperation] = Field(min_length=1)


class Authorization(_Strict):
    type: Literal["simple"]
    acls: list[AclRule]


class Authentication(_Strict):
    type: Literal["tls", "tls-external", "scram-sha-512"]


class KafkaUserSpec(_Strict):
    authentication: Authentication | None = None
    authorization: Authorization | None = None


class Metadata(_Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # DNS-1123 subdomain
    labels: dict[str, str]


class KafkaUser(_Strict):
    apiVersion: Literal["kafka.strimzi.io/v1beta2"]
    kind: Literal["KafkaUser"]
    metadata: Metadata
    spec: KafkaUserSpec


# --- kafka-acls.sh's options, as far as the plan's lines use them --------------------------


def _acls_sh() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kafka-acls.sh", exit_on_error=False)
    parser.add_argument("--bootstrap-server", required=True)
    parser.add_argument("--command-config")
    parser.add_argument("--add", action="store_true", required=True)
    parser.add_argument("--allow-principal", required=True)
    parser.add_argument("--allow-host", default="*")
    parser.add_argument("--operation", action="append", required=True)
    resource = parser.add_mutually_exclusive_group(required=True)
    resource.add_argument("--topic")
    resource.add_argument("--group")
    resource.add_argument("--transactional-id")
    resource.add_argument("--cluster", action="store_true")
    parser.add_argument(
        "--resource-pattern-type", choices=["literal", "prefixed"], default="literal"
    )
    return parser


def _operation(name: str) -> Operation:
    return Operation["".join(f"_{c}" if c.isupper() else c for c in name).lstrip("_").upper()]


def _bindings_of_lines(text: str) -> set[AclBinding]:
    parser = _acls_sh()
    found: set[AclBinding] = set()
    for line in text.splitlines():
        argv = shlex.split(line)
        assert argv[0] == "kafka-acls.sh"
        args = parser.parse_args(argv[1:])
        assert args.allow_host == "*"
        kinds = {
            ResourceType.TOPIC: args.topic,
            ResourceType.GROUP: args.group,
            ResourceType.TRANSACTIONAL_ID: args.transactional_id,
        }
        kind, name = next((k, n) for k, n in kinds.items() if n is not None)
        pattern = PatternType[args.resource_pattern_type.upper()]
        for operation in args.operation:
            found.add(
                AclBinding(
                    principal=args.allow_principal,
                    resource_type=kind,
                    name=name,
                    pattern=pattern,
                    operation=_operation(operation),
                )
            )
    return found


def _bindings_of_users(users: list[KafkaUser]) -> set[AclBinding]:
    found: set[AclBinding] = set()
    for user in users:
        assert user.spec.authorization is not None
        for rule in user.spec.authorization.acls:
            assert rule.resource.name is not None
            kind = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}.get(
                rule.resource.type, ResourceType.TRANSACTIONAL_ID
            )
            pattern = {"prefix": PatternType.PREFIXED, "literal": PatternType.LITERAL}
            for operation in rule.operations:
                found.add(
                    AclBinding(
                        principal=f"User:{user.metadata.name}",
                        resource_type=kind,
                        name=rule.resource.name,
                        pattern=pattern[rule.resource.patternType],
                        operation=_operation(operation),
                    )
                )
    return found


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, ["acl", "plan", *args], env={"BATON_TOPIC_PREFIX": "acme"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("prefix", ["", "baton-"])
def test_strimzi_users_are_valid_kafka_users_holding_exactly_the_plan(prefix: str) -> None:
    text = _cli("--format", "strimzi", "--principal-prefix", prefix, "--cluster", "prod")
    users = [KafkaUser.model_validate(doc) for doc in yaml.safe_load_all(text)]
    assert [u.metadata.name for u in users] == [f"{prefix}{r}" for r in (*SERVICES, CLIENT)]
    for user in users:
        assert user.metadata.labels["strimzi.io/cluster"] == "prod"
        assert user.spec.authentication == Authentication(type="scram-sha-512")
    plan = AclPlan.build(topic_prefix="acme", principal_prefix=prefix)
    assert _bindings_of_users(users) == set(plan.bindings)
    assert len(plan.bindings) == len(set(plan.bindings))


def test_kafka_acls_lines_parse_as_kafka_acls_reads_them_and_hold_exactly_the_plan() -> None:
    text = _cli(
        "--format",
        "kafka-acls",
        "--principal-prefix",
        "baton-",
        "--bootstrap-server",
        "kafka:9093",
        "--command-config",
        "/etc/kafka/admin.properties",
    )
    plan = AclPlan.build(topic_prefix="acme", principal_prefix="baton-")
    assert _bindings_of_lines(text) == set(plan.bindings)
    assert len(text.splitlines()) == len(plan.rules())
    assert all("--command-config /etc/kafka/admin.properties" in line for line in text.splitlines())


def test_the_local_secured_broker_applies_the_same_plan() -> None:
    stack = SecureKafkaStack.acl_plan(prefix="acme")
    assert stack == AclPlan.build(topic_prefix="acme")
    assert SecureKafkaStack.users == (ADMIN, *stack.principals.values())


def test_json_names_every_rule() -> None:
    plan = orjson.loads(_cli("--json", "--principal-prefix", "b-"))
    assert plan["principals"]["client"] == "b-client"
    rules = plan["rules"]
    assert {r["resource_type"] for r in rules} == {"topic", "group", "transactional_id"}
    assert all(r["principal"].startswith("User:b-") for r in rules)


def test_a_principal_prefix_must_keep_user_names_kubernetes_names() -> None:
    result = CliRunner().invoke(app, ["acl", "plan", "--principal-prefix", "Baton_"])
    assert result.exit_code == 2
    assert "--principal-prefix" in result.stderr

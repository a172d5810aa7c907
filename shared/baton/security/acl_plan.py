"""Baton's Kafka ACLs as one plan: what the local secured broker applies, and what
``baton acl plan`` prints for a real cluster (Strimzi ``KafkaUser`` resources or
``kafka-acls.sh`` command lines).

The principals are the services' (``hub``...) and the clients' (``client``), each named
``<principal prefix><role>`` on the cluster (``User:baton-hub`` with the prefix ``baton-``);
what each may do is :mod:`baton.security.acl`'s.
"""

from __future__ import annotations

import shlex
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from baton.config import SERVICES
from baton.security.acl import (
    CLIENT,
    AclBinding,
    PatternType,
    ResourceType,
    client_acls,
    service_acls,
)

__all__ = ["PRINCIPAL_PREFIX", "STRIMZI_API_VERSION", "AclPlan", "AclRule"]

STRIMZI_API_VERSION: Final = "kafka.strimzi.io/v1beta2"
PRINCIPAL_PREFIX: Final = r"^([a-z0-9][-a-z0-9.]*)?$"
"""A principal prefix keeps ``<prefix><role>`` a Kubernetes name, as a KafkaUser's is."""

_STRIMZI_TYPES: Final = {
    ResourceType.TOPIC: "topic",
    ResourceType.GROUP: "group",
    ResourceType.CLUSTER: "cluster",
    ResourceType.TRANSACTIONAL_ID: "transactionalId",
}
_STRIMZI_PATTERNS: Final = {PatternType.LITERAL: "literal", PatternType.PREFIXED: "prefix"}
_ACLS_SH_FLAGS: Final = {
    ResourceType.TOPIC: "--topic",
    ResourceType.GROUP: "--group",
    ResourceType.CLUSTER: "--cluster",
    ResourceType.TRANSACTIONAL_ID: "--transactional-id",
}


def _operation_name(name: str) -> str:
    """``DESCRIBE_CONFIGS`` → ``DescribeConfigs``, as Strimzi and kafka-acls.sh spell it."""
    return "".join(word.capitalize() for word in name.split("_"))


class AclRule(BaseModel):
    """The operations one principal may do on one resource pattern (any host)."""

    model_config = ConfigDict(frozen=True)

    principal: str
    resource_type: ResourceType
    name: str
    pattern: PatternType
    operations: tuple[str, ...]
    """``Read``, ``Write``... as Strimzi and kafka-acls.sh spell them."""


class AclPlan(BaseModel):
    """Every ACL of one deployment and the principals they name.

    Attributes:
        topic_prefix: The deployment's topic prefix (``BATON_TOPIC_PREFIX``).
        principal_prefix: Start of every principal's user name on the cluster.
        principals: Each role (``hub``..., ``client``) → its user name.
        bindings: One allowed operation each (what the broker stores).
    """

    model_config = ConfigDict(frozen=True)

    topic_prefix: str
    principal_prefix: str = Field(default="", pattern=PRINCIPAL_PREFIX)
    principals: dict[str, str]
    bindings: tuple[AclBinding, ...]

    @classmethod
    def build(cls, *, topic_prefix: str, principal_prefix: str = "") -> AclPlan:
        """The plan of the deployment under ``topic_prefix``.

        Raises:
            pydantic.ValidationError: ``principal_prefix`` is no Kubernetes name start.
        """
        roles = (*SERVICES, CLIENT)
        principals = {role: f"{principal_prefix}{role}" for role in roles}
        bindings = [
            *service_acls(prefix=topic_prefix, principal_prefix=principal_prefix),
            *client_acls(prefix=topic_prefix, principal_prefix=principal_prefix),
        ]
        return cls(
            topic_prefix=topic_prefix,
            principal_prefix=principal_prefix,
            principals=principals,
            bindings=tuple(bindings),
        )

    def rules(self) -> list[AclRule]:
        """The bindings grouped: one rule per principal and resource pattern, in order."""
        grouped: dict[tuple[str, ResourceType, str, PatternType], list[str]] = {}
        for b in self.bindings:
            key = (b.principal, b.resource_type, b.name, b.pattern)
            grouped.setdefault(key, []).append(_operation_name(b.operation.name))
        return [
            AclRule(
                principal=principal,
                resource_type=kind,
                name=name,
                pattern=pattern,
                operations=tuple(ops),
            )
            for (principal, kind, name, pattern), ops in grouped.items()
        ]

    def summary(self) -> dict[str, Any]:
        """The plan as JSON-ready data: principals and rules, types and operations by name."""
        return {
            "topic_prefix": self.topic_prefix,
            "principal_prefix": self.principal_prefix,
            "principals": self.principals,
            "rules": [
                {
                    "principal": rule.principal,
                    "resource_type": rule.resource_type.name.lower(),
                    "name": rule.name,
                    "pattern": rule.pattern.name.lower(),
                    "operations": list(rule.operations),
                }
                for rule in self.rules()
            ],
        }

    def kafka_users(self, *, cluster: str) -> list[dict[str, Any]]:
        """One Strimzi ``KafkaUser`` per principal (SCRAM-SHA-512, simple authorization),
        for the Kafka cluster named ``cluster``."""
        rules = self.rules()
        users = []
        for role, user in self.principals.items():
            acls = []
            for rule in rules:
                if rule.principal != f"User:{user}":
                    continue
                resource: dict[str, Any] = {"type": _STRIMZI_TYPES[rule.resource_type]}
                if rule.resource_type is not ResourceType.CLUSTER:
                    resource["name"] = rule.name
                    resource["patternType"] = _STRIMZI_PATTERNS[rule.pattern]
                acls.append(
                    {"resource": resource, "operations": list(rule.operations), "host": "*"}
                )
            users.append(
                {
                    "apiVersion": STRIMZI_API_VERSION,
                    "kind": "KafkaUser",
                    "metadata": {
                        "name": user,
                        "labels": {
                            "strimzi.io/cluster": cluster,
                            "app.kubernetes.io/part-of": "baton",
                            "app.kubernetes.io/component": role,
                        },
                    },
                    "spec": {
                        "authentication": {"type": "scram-sha-512"},
                        "authorization": {"type": "simple", "acls": acls},
                    },
                }
            )
        return users

    def kafka_acls_commands(
        self, *, bootstrap: str, command_config: str | None = None
    ) -> list[list[str]]:
        """One ``kafka-acls.sh --add`` command (argv) per rule."""
        commands = []
        for rule in self.rules():
            argv = ["kafka-acls.sh", "--bootstrap-server", bootstrap]
            if command_config:
                argv += ["--command-config", command_config]
            argv += ["--add", "--allow-principal", rule.principal, "--allow-host", "*"]
            for operation in rule.operations:
                argv += ["--operation", operation]
            argv.append(_ACLS_SH_FLAGS[rule.resource_type])
            if rule.resource_type is not ResourceType.CLUSTER:
                argv.append(rule.name)
            argv += ["--resource-pattern-type", rule.pattern.name.lower()]
            commands.append(argv)
        return commands

    def kafka_acls_lines(self, *, bootstrap: str, command_config: str | None = None) -> str:
        """:meth:`kafka_acls_commands` as shell lines."""
        return "".join(
            shlex.join(argv) + "\n"
            for argv in self.kafka_acls_commands(bootstrap=bootstrap, command_config=command_config)
        )

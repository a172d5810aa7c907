"""Who may do what on the secured broker: one principal per service, prefixed ACLs.

Each service reads and writes its own commands topic (with its retry and dead-letter
companions), its own topics, consumer groups and transactional ids (all prefixed
``<prefix>.<service>``); it shares the events and replies topics with the others, writes
the commands topic only of the services it calls, and only the hub writes the state topic.
The monitor may also describe (not read) every group and topic of the prefix: its lag.
Everything else is denied (the broker's ``allow.everyone.if.no.acl.found`` stays false).

Clients and agents (the CLI, ``BatonClient``, ``AgentWorker``) share one principal,
``client``: they publish and read events, call every service (write its commands topic)
and read the replies, in consumer groups named ``<prefix>.client.*`` or ``<prefix>.agent.*``
(an agent worker's). They may not read any commands topic, write the state topic or a
service's own topics, or join a service's group: a client cannot act as a service.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import Any

from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest
from pydantic import BaseModel, ConfigDict

from baton.config import SERVICES
from baton.errors import StackError

__all__ = [
    "CALLS",
    "CLIENT",
    "AclBinding",
    "Operation",
    "PatternType",
    "ResourceType",
    "apply_acls",
    "client_acls",
    "remove_acls",
    "service_acls",
]

CLIENT = "client"
"""The principal of clients and agents (module doc)."""


class ResourceType(IntEnum):
    """Kafka's ``ResourceType`` codes (CreateAcls request)."""

    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class PatternType(IntEnum):
    """Kafka's ``PatternType`` codes."""

    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    """Kafka's ``AclOperation`` codes used by the policy."""

    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8
    DESCRIBE_CONFIGS = 10


ALLOW = 3
"""Kafka's ``AclPermissionType.ALLOW``."""

CALLS: dict[str, tuple[str, ...]] = {
    "hub": ("resource",),
    "recovery": ("hub",),
}
"""Whose commands topic each service writes (request-response); the rest write none."""

_READ_WRITE = (Operation.READ, Operation.WRITE, Operation.DESCRIBE)
_READ = (Operation.READ, Operation.DESCRIBE)


class AclBinding(BaseModel):
    """One allowed operation of one principal on one resource pattern (any host)."""

    model_config = ConfigDict(frozen=True)

    principal: str
    resource_type: ResourceType
    name: str
    pattern: PatternType
    operation: Operation

    def __str__(self) -> str:
        return (
            f"{self.principal} {self.operation.name} {self.resource_type.name} "
            f"{self.pattern.name.lower()} {self.name!r}"
        )


def _grant(
    principal: str,
    kind: ResourceType,
    name: str,
    operations: Iterable[Operation],
    *,
    pattern: PatternType = PatternType.PREFIXED,
) -> list[AclBinding]:
    return [
        AclBinding(
            principal=principal, resource_type=kind, name=name, pattern=pattern, operation=op
        )
        for op in operations
    ]


def service_acls(
    *, prefix: str, services: Sequence[str] = SERVICES, principal_prefix: str = ""
) -> list[AclBinding]:
    """The ACLs of every service principal (``User:<principal_prefix><service>``) under
    topic ``prefix``."""
    bindings: list[AclBinding] = []
    for service in services:
        user = f"User:{principal_prefix}{service}"
        own = f"{prefix}.{service}"
        topic, group, txn = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
        bindings += _grant(user, topic, f"{prefix}.commands.{service}", _READ_WRITE)
        # Its own topics (the monitor's stream changelogs), created by the service itself.
        own_topic_ops = (*_READ_WRITE, Operation.CREATE, Operation.DESCRIBE_CONFIGS)
        bindings += _grant(user, topic, own, own_topic_ops)
        bindings += _grant(user, group, own, _READ)
        bindings += _grant(user, txn, own, (Operation.WRITE, Operation.DESCRIBE))
        for shared in (f"{prefix}.events", f"{prefix}.replies"):
            bindings += _grant(user, topic, shared, _READ_WRITE)
        state_ops = _READ_WRITE if service == "hub" else _READ
        bindings += _grant(user, topic, f"{prefix}.state", state_ops)
        for callee in CALLS.get(service, ()):
            callee_topic = f"{prefix}.commands.{callee}"
            ops = (Operation.WRITE, Operation.DESCRIBE)
            bindings += _grant(user, topic, callee_topic, ops, pattern=PatternType.LITERAL)
        if service == "monitor":
            # Consumer lag of every service: DESCRIBE reads a group's offsets, never joins it;
            # on topics it reads their offsets and metadata, never their records (without
            # it the broker silently leaves other services' commands topics out of the lag).
            bindings += _grant(user, group, f"{prefix}.", (Operation.DESCRIBE,))
            bindings += _grant(user, topic, f"{prefix}.", (Operation.DESCRIBE,))
    return bindings


def client_acls(
    *, prefix: str, services: Sequence[str] = SERVICES, principal_prefix: str = ""
) -> list[AclBinding]:
    """The ACLs of the clients' and agents' principal (``User:<principal_prefix>client``;
    module doc)."""
    user = f"User:{principal_prefix}{CLIENT}"
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    bindings: list[AclBinding] = []
    for shared in (f"{prefix}.events", f"{prefix}.replies"):  # with retry and DLQ topics
        bindings += _grant(user, topic, shared, _READ_WRITE)
    for service in services:
        callee = f"{prefix}.commands.{service}"
        ops = (Operation.WRITE, Operation.DESCRIBE)
        bindings += _grant(user, topic, callee, ops, pattern=PatternType.LITERAL)
    for groups in (f"{prefix}.client.", f"{prefix}.agent."):
        bindings += _grant(user, group, groups, _READ)
    return bindings


class _CreateAll(CreateAclsRequest):  # type: ignore[misc]
    """Every binding in one CreateAcls request (the wrapper of aiokafka sends one each)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def build(self, request_struct_class: Any) -> Any:
        if request_struct_class.API_VERSION < 1:
            raise StackError("the broker does not support prefixed ACLs (CreateAcls v1+)")
        return request_struct_class(self._rows)


class _DeleteAll(DeleteAclsRequest):  # type: ignore[misc]
    """Every binding as one filter each, in one DeleteAcls request."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def build(self, request_struct_class: Any) -> Any:
        if request_struct_class.API_VERSION < 1:
            raise StackError("the broker does not support prefixed ACLs (DeleteAcls v1+)")
        return request_struct_class(self._rows)


async def apply_acls(*, admin: Any, bindings: Sequence[AclBinding]) -> int:
    """Create ``bindings`` through a started admin client; idempotent (existing ones stay).

    aiokafka's admin client (0.14) has no public ACL call (no ``create_acls``), so a
    CreateAcls request of its protocol layer is sent directly, all bindings in one. Returns
    how many bindings were sent.

    Raises:
        StackError: the broker refused a binding (the message names it).
    """
    if not bindings:
        return 0
    response = await admin._send_request(_CreateAll([_row(b) for b in bindings]))
    _check(bindings, [(r[0], r[1]) for r in response.creation_responses])
    return len(bindings)


async def remove_acls(*, admin: Any, bindings: Sequence[AclBinding]) -> int:
    """Delete exactly ``bindings`` (absent ones are no error); returns how many were sent.

    Raises:
        StackError: the broker refused to delete one.
    """
    if not bindings:
        return 0
    response = await admin._send_request(_DeleteAll([_row(b) for b in bindings]))
    _check(bindings, [(r[0], r[1]) for r in response.filter_responses])
    return len(bindings)


def _row(binding: AclBinding) -> tuple[Any, ...]:
    """The binding as CreateAcls v1 / DeleteAcls v1 encode it (any host, allow)."""
    return (
        int(binding.resource_type),
        binding.name,
        int(binding.pattern),
        binding.principal,
        "*",
        int(binding.operation),
        ALLOW,
    )


def _check(bindings: Sequence[AclBinding], results: Sequence[tuple[int, str | None]]) -> None:
    """Results come in the order of the bindings sent."""
    for binding, (code, message) in zip(bindings, results, strict=True):
        if code:
            raise StackError(
                f"Kafka refused the ACL change {binding}: error {code} {message or ''}".strip(),
                acl=str(binding),
            )

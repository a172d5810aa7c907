"""The shared service runtime: runner, service base, outbox, idempotency ledger, health."""

from baton.runtime.groupcommit import GroupCommit
from baton.runtime.ledger import (
    durable_responder,
    first_events,
    first_time,
    first_times,
)
from baton.runtime.outbox import Outbox
from baton.runtime.retention import PASSING_ERRORS, Pruner, PruneRule, RetentionConfig
from baton.runtime.runner import RUNTIME_MIGRATIONS, ServiceRunner, run_service
from baton.runtime.service import (
    DEFAULT_PORTS,
    READ_MODEL_GATHER_MS,
    Loop,
    Service,
    ServiceContext,
)

__all__ = [
    "DEFAULT_PORTS",
    "PASSING_ERRORS",
    "READ_MODEL_GATHER_MS",
    "RUNTIME_MIGRATIONS",
    "GroupCommit",
    "Loop",
    "Outbox",
    "PruneRule",
    "Pruner",
    "RetentionConfig",
    "Service",
    "ServiceContext",
    "ServiceRunner",
    "durable_responder",
    "first_events",
    "first_time",
    "first_times",
    "run_service",
]

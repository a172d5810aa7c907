"""Baton: multi-step, multi-agent workflow coordination over Kafka.

The public client API is re-exported here; import from ``baton``, not from submodules.
"""

from typing import TYPE_CHECKING, Any

from baton.bus import (
    Ack,
    Bus,
    Handler,
    KafkaTransport,
    MemoryTransport,
    Middleware,
    Responder,
    StartAt,
    Subscription,
    TracingMiddleware,
)
from baton.config import BatonSettings, TopicNames
from baton.errors import (
    BatonError,
    ConfigError,
    DependencyUnavailableError,
    HandlerError,
    MissingTopicError,
    ProtocolError,
    RemoteError,
    RequestTimeoutError,
    StackError,
)
from baton.protocol.event import Event
from baton.protocol.headers import PROTOCOL_VERSION
from baton.protocol.registry import EventRegistry
from baton.protocol.routing import Pattern, routing_key

if TYPE_CHECKING:
    from baton.client import (
        AgentWorker,
        BatonClient,
        ClientError,
        Task,
        TaskHandler,
        TaskResult,
        WorkflowSnapshot,
    )

__version__ = "0.1.0"

_CLIENT = frozenset(
    {
        "AgentWorker",
        "BatonClient",
        "ClientError",
        "Task",
        "TaskHandler",
        "TaskResult",
        "WorkflowSnapshot",
    }
)


def __getattr__(name: str) -> Any:
    # The client loads on first use: every service process imports ``baton`` at start,
    # and a restarted service's resume time includes that import.
    if name in _CLIENT:
        import baton.client

        return getattr(baton.client, name)
    raise AttributeError(f"module 'baton' has no attribute {name!r}")


__all__ = [
    "PROTOCOL_VERSION",
    "Ack",
    "AgentWorker",
    "BatonClient",
    "BatonError",
    "BatonSettings",
    "Bus",
    "ClientError",
    "ConfigError",
    "DependencyUnavailableError",
    "Event",
    "EventRegistry",
    "Handler",
    "HandlerError",
    "KafkaTransport",
    "MemoryTransport",
    "Middleware",
    "MissingTopicError",
    "Pattern",
    "ProtocolError",
    "RemoteError",
    "RequestTimeoutError",
    "Responder",
    "StackError",
    "StartAt",
    "Subscription",
    "Task",
    "TaskHandler",
    "TaskResult",
    "TopicNames",
    "TracingMiddleware",
    "WorkflowSnapshot",
    "__version__",
    "routing_key",
]

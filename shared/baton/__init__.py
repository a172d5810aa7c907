"""Baton: multi-step, multi-agent workflow coordination over Kafka.

The public client API is re-exported here; import from ``baton``, not from submodules.
"""

from baton.bus import (
    Ack,
    Bus,
    Handler,
    KafkaTransport,
    MemoryTransport,
    Middleware,
    Responder,
    Subscription,
    TracingMiddleware,
)
from baton.client import (
    AgentWorker,
    BatonClient,
    ClientError,
    Task,
    TaskHandler,
    TaskResult,
    WorkflowSnapshot,
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

__version__ = "0.1.0"

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

"""Baton's Kafka bus: patterns, retries, dead letters, request-response, tracing."""

from baton.bus.bus import Bus, Responder
from baton.bus.kafka import KafkaTransport
from baton.bus.memory import MemoryTransport
from baton.bus.middleware import Middleware
from baton.bus.subscription import BatchHandler, Handler, StartAt, Subscription
from baton.bus.tracing import TracingMiddleware
from baton.bus.transport import Ack, Record, TopicPartition, Transport

__all__ = [
    "Ack",
    "BatchHandler",
    "Bus",
    "Handler",
    "KafkaTransport",
    "MemoryTransport",
    "Middleware",
    "Record",
    "Responder",
    "StartAt",
    "Subscription",
    "TopicPartition",
    "TracingMiddleware",
    "Transport",
]

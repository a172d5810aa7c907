"""The Baton protocol: event lines, the event registry, routing, messages.

- :mod:`~baton.protocol.codec`: ``EVENT_TYPE:workflow_id:phase:data`` ⇄ :class:`Line`
  (with :mod:`~baton.protocol.relaxed_json` for the single-quoted data and
  :mod:`~baton.protocol.limits` for size limits).
- :mod:`~baton.protocol.registry`: the Event Types Registry of the protocol.
- :mod:`~baton.protocol.routing`: routing keys and subscription patterns.
- :mod:`~baton.protocol.event` and :mod:`~baton.protocol.headers`: the event envelope and
  its Kafka headers.
- :mod:`~baton.protocol.messages`: pydantic models of the protocol's messages;
  :mod:`~baton.protocol.schemas` generates their JSON Schemas and the AsyncAPI document.
- :mod:`~baton.protocol.commands`: the commands each service answers, one enum per service.
- :mod:`~baton.protocol.duration`: ``"10m"`` ⇄ seconds.

Only the light, hot-path names are re-exported here; import ``messages`` and ``schemas``
from their modules (they load pydantic models).
"""

from __future__ import annotations

from baton.protocol.codec import Line, format_line, parse_data, parse_line
from baton.protocol.duration import format_duration, parse_duration
from baton.protocol.registry import EventRegistry, EventSpec, FieldSpec
from baton.protocol.routing import Pattern, routing_key, routing_key_from_line

__all__ = [
    "EventRegistry",
    "EventSpec",
    "FieldSpec",
    "Line",
    "Pattern",
    "format_duration",
    "format_line",
    "parse_data",
    "parse_duration",
    "parse_line",
    "routing_key",
    "routing_key_from_line",
]

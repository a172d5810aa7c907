"""Component registration (the protocol's "Component Registration", docs/protocol.md).

Choices the protocol leaves open:

- ``event_subscriptions``/``event_publications`` are routing-key patterns and are checked
  with :class:`baton.protocol.routing.Pattern` (``*`` one segment, ``#`` any number).
- ``component_type`` is free text (the protocol shows ``utility``); ``version`` is
  ``MAJOR.MINOR.PATCH`` with an optional suffix, default ``0.0.0`` (unknown).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from baton.errors import ProtocolError
from baton.protocol.messages.base import Identifier, Message
from baton.protocol.routing import Pattern

__all__ = [
    "ComponentRegistration",
    "ComponentRegistrationMessage",
    "RoutingPattern",
    "Version",
]


def _pattern(text: str) -> str:
    try:
        Pattern(text)
    except ProtocolError as exc:
        raise ValueError(exc.message) from None
    return text


RoutingPattern = Annotated[str, AfterValidator(_pattern)]
"""A subscription pattern such as ``resource.*.allocated`` or ``workflow.#``."""

Version = Annotated[
    str, StringConstraints(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$")
]
"""A version ``MAJOR.MINOR.PATCH`` with an optional pre-release or build suffix."""


class ComponentRegistration(Message):
    """A component announcing itself to the coordination system."""

    component_id: Identifier
    """Unique name of the component, e.g. resource-manager."""
    component_type: str = "service"
    """Kind of component, e.g. utility, service, agent."""
    version: Version = "0.0.0"
    """Version of the component (MAJOR.MINOR.PATCH)."""
    capabilities: list[str] = Field(default_factory=list)
    """What it can do."""
    dependencies: list[str] = Field(default_factory=list)
    """Components it needs."""
    event_subscriptions: list[RoutingPattern] = Field(default_factory=list)
    """Routing-key patterns it consumes."""
    event_publications: list[RoutingPattern] = Field(default_factory=list)
    """Routing-key patterns it publishes."""
    health_check_endpoint: str = "/health"
    """HTTP path of its health check."""
    performance_metrics: list[str] = Field(default_factory=list)
    """Names of the metrics it reports."""


class ComponentRegistrationMessage(Message):
    """Envelope ``{"component_registration": {...}}``."""

    component_registration: ComponentRegistration
    """The registration."""

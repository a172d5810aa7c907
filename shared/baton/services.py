"""Where each service's class lives, so the CLI can start any of them by name."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from baton.errors import ConfigError

if TYPE_CHECKING:  # the runtime (HTTP server, bus) loads with the first service, not here
    from baton.runtime.service import Service

__all__ = ["SERVICE_CLASSES", "load_service"]

SERVICE_CLASSES: dict[str, str] = {
    "hub": "baton_hub.runner:HubService",
    "resource": "baton_resource.runner:ResourceService",
    "status": "baton_status.runner:StatusService",
    "monitor": "baton_monitor.runner:MonitorService",
    "recovery": "baton_recovery.runner:RecoveryService",
}
"""Service name → ``module:Class``; services join this map as they are built."""


def load_service(name: str) -> type[Service]:
    """The Service class called ``name``."""
    target = SERVICE_CLASSES.get(name)
    if target is None:
        raise ConfigError(
            f"unknown service {name!r}; known: {', '.join(sorted(SERVICE_CLASSES))}",
            service=name,
        )
    from baton.runtime.service import Service

    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Service)):
        raise ConfigError(f"{target} is not a Service", service=name)
    return cls

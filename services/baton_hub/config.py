"""Hub configuration from the environment (``BATON_HUB_*``), validated at start."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from baton.config import ServiceConfig

__all__ = ["HubConfig"]


class HubConfig(ServiceConfig):
    """Settings of the coordination hub.

    Attributes:
        timeout_interval: Seconds between checks of task and dependency deadlines (deadlines
            are minutes long; checking more often costs CPU for every active workflow).
        allocation_patience: Seconds the hub keeps asking an unavailable resource manager
            for a workflow's allocation before the event goes to retry/dead letter.
    """

    env_prefix: ClassVar[str] = "BATON_HUB_"

    timeout_interval: float = Field(default=5.0, gt=0)
    allocation_patience: float = Field(default=120.0, gt=0)

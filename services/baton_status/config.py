"""Status service configuration from the environment (``BATON_STATUS_*``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from baton.config import ServiceConfig

__all__ = ["StatusConfig"]


class StatusConfig(ServiceConfig):
    """Settings of the status service.

    Attributes:
        overview_interval: Seconds between overview messages on the live stream.
        list_limit: Most workflows one list request returns.
    """

    env_prefix: ClassVar[str] = "BATON_STATUS_"

    overview_interval: float = Field(default=2.0, gt=0)
    list_limit: int = Field(default=500, ge=1, le=10_000)

"""Status service configuration from the environment (``BATON_STATUS_*``)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field

from baton.config import ServiceConfig

__all__ = ["StatusConfig"]


class StatusConfig(ServiceConfig):
    """Settings of the status service.

    Attributes:
        overview_interval: Seconds between overview messages on the live stream.
        list_limit: Most workflows one list request returns.
        view_cache: Most workflow views a replica keeps in memory (those it used last).
        retention_days: Days an ended workflow stays in the read model.
        retention_batch: Rows deleted (or summarised) per transaction.
        retention_interval: Seconds between two retention passes.
        stream_clients: Most clients of a replica's live stream (``/api/stream``) at
            once; one more is answered 503 with a JSON error.
    """

    env_prefix: ClassVar[str] = "BATON_STATUS_"

    overview_interval: float = Field(default=2.0, gt=0)
    list_limit: int = Field(default=500, ge=1, le=10_000)
    view_cache: int = Field(default=256, ge=0, le=100_000)
    retention_days: float = Field(default=7.0, gt=0)
    retention_batch: int = Field(default=500, ge=1, le=100_000)
    retention_interval: float = Field(default=300.0, gt=0)
    stream_clients: int = Field(default=100, ge=1, le=100_000)

    @property
    def retention(self) -> timedelta:
        """How long an ended workflow stays."""
        return timedelta(days=self.retention_days)

"""Status service configuration from the environment (``BATON_STATUS_*``)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton.errors import ConfigError

__all__ = ["StatusConfig"]


class StatusConfig(BaseModel):
    """Settings of the status service.

    Attributes:
        overview_interval: Seconds between overview messages on the live stream.
        list_limit: Most workflows one list request returns.
        capacity_interval: Seconds between asking the resource manager for pool sizes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    overview_interval: float = Field(default=2.0, gt=0)
    capacity_interval: float = Field(default=10.0, gt=0)
    list_limit: int = Field(default=500, ge=1, le=10_000)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StatusConfig:
        prefix = "BATON_STATUS_"
        values = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = f"{prefix}{str(first['loc'][0]).upper()}" if first["loc"] else prefix
            raise ConfigError(f"{name}: {first['msg']}", variable=name) from None

"""Hub configuration from the environment (``BATON_HUB_*``), validated at start."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton.errors import ConfigError

__all__ = ["HubConfig"]


class HubConfig(BaseModel):
    """Settings of the coordination hub.

    Attributes:
        timeout_interval: Seconds between checks of task and dependency deadlines (deadlines
            are minutes long; checking more often costs CPU for every active workflow).
        allocation_patience: Seconds the hub keeps asking an unavailable resource manager
            for a workflow's allocation before the event goes to retry/dead letter.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_interval: float = Field(default=5.0, gt=0)
    allocation_patience: float = Field(default=120.0, gt=0)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HubConfig:
        prefix = "BATON_HUB_"
        values = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = f"{prefix}{str(first['loc'][0]).upper()}" if first["loc"] else prefix
            raise ConfigError(f"{name}: {first['msg']}", variable=name) from None

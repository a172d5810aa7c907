"""Resource manager configuration from the environment, validated at start.

``BATON_RESOURCE_POOLS``: JSON capacities (``{"agents":4,"memory_gb":16,"cpu_cores":8,
"tool_instances":{"bash":4}}``); ``BATON_RESOURCE_AGENT_IDS``: comma list naming the agents
(default ``agent_001``…); ``BATON_RESOURCE_AGING_PER_MINUTE``,
``BATON_RESOURCE_LEASE_GRACE``, ``BATON_RESOURCE_THRESHOLD`` (percent),
``BATON_RESOURCE_EXPIRY_INTERVAL`` (seconds).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton.errors import ConfigError
from baton_resource.pools import ResourcePools

__all__ = ["ResourceConfig"]


class ResourceConfig(BaseModel):
    """Settings of the resource manager."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    pools: ResourcePools = Field(default_factory=ResourcePools)
    agent_ids: tuple[str, ...] = ()
    aging_per_minute: float = Field(default=1.0, ge=0)
    lease_grace: float = Field(default=1.5, ge=1.0)
    threshold: float = Field(default=80.0, gt=0, le=100)
    expiry_interval: float = Field(default=1.0, gt=0)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ResourceConfig:
        prefix = "BATON_RESOURCE_"
        values: dict[str, object] = {}
        for key, raw in env.items():
            if key.startswith(prefix) and raw != "":
                values[key[len(prefix) :].lower()] = raw
        if "pools" in values:
            values["pools"] = ResourcePools.from_json(str(values["pools"]))
        if "agent_ids" in values:
            values["agent_ids"] = tuple(
                a.strip() for a in str(values["agent_ids"]).split(",") if a.strip()
            )
        try:
            config = cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = f"{prefix}{str(first['loc'][0]).upper()}" if first["loc"] else prefix
            raise ConfigError(f"{name}: {first['msg']}", variable=name) from None
        if config.agent_ids and len(config.agent_ids) != config.pools.agents:
            raise ConfigError(
                f"{prefix}AGENT_IDS names {len(config.agent_ids)} agents but the pool has "
                f"{config.pools.agents}",
                variable=f"{prefix}AGENT_IDS",
            )
        return config

    def agent_names(self) -> list[str]:
        """The agent ids of the pool, in order."""
        return list(self.agent_ids) or [f"agent_{i:03d}" for i in range(1, self.pools.agents + 1)]

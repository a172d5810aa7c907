"""Resource manager configuration from the environment, validated at start.

``BATON_RESOURCE_POOLS``: JSON capacities (``{"agents":4,"memory_gb":16,"cpu_cores":8,
"tool_instances":{"bash":4}}``); ``BATON_RESOURCE_AGENT_IDS``: comma list naming the agents
(default ``agent_001``…); ``BATON_RESOURCE_AGING_PER_MINUTE``,
``BATON_RESOURCE_LEASE_GRACE``, ``BATON_RESOURCE_THRESHOLD`` (percent),
``BATON_RESOURCE_EXPIRY_INTERVAL`` (seconds); ``BATON_RESOURCE_HOLD_WHEN_SATURATED``: comma
list of priorities held back while the monitor reports saturation (default ``low``; empty
switches the feedback off).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from baton.config import ServiceConfig
from baton.protocol.messages import Priority
from baton_resource.pools import ResourcePools

__all__ = ["ResourceConfig"]


class ResourceConfig(ServiceConfig):
    """Settings of the resource manager.

    Attributes:
        pools: Pool capacities, JSON (``{"agents":4,"memory_gb":16,"cpu_cores":8,
            "tool_instances":{"bash":4}}``); a field left out keeps its default.
        agent_ids: Names of the pool's agents, a comma list as long as the pool has agents.
            Unset: ``agent_001``, ``agent_002``...
        aging_per_minute: Queue aging: rank points a request gains per minute of waiting
            (priorities are 30 apart).
        lease_grace: An allocation is released by itself after its expected duration times
            this.
        threshold: Utilisation (percent) of a pool that raises ``RESOURCE_THRESHOLD``.
        expiry_interval: Seconds between checks for expired allocations.
        hold_when_saturated: Priorities held back while the monitor reports the system
            saturated (comma list; empty switches the feedback off).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    env_prefix: ClassVar[str] = "BATON_RESOURCE_"

    pools: ResourcePools = Field(default_factory=ResourcePools)
    agent_ids: tuple[str, ...] = ()
    aging_per_minute: float = Field(default=1.0, ge=0)
    lease_grace: float = Field(default=1.5, ge=1.0)
    threshold: float = Field(default=80.0, gt=0, le=100)
    expiry_interval: float = Field(default=1.0, gt=0)
    hold_when_saturated: frozenset[Priority] = frozenset({"low"})

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> dict[str, Any]:
        if "pools" in values:
            values["pools"] = ResourcePools.from_json(str(values["pools"]))
        if "agent_ids" in values:
            names = str(values["agent_ids"]).split(",")
            values["agent_ids"] = tuple(a.strip() for a in names if a.strip())
        if isinstance(values.get("hold_when_saturated"), str):
            held = str(values["hold_when_saturated"]).split(",")
            values["hold_when_saturated"] = frozenset(p.strip() for p in held if p.strip())
        return values

    @field_validator("agent_ids")
    @classmethod
    def _agents_match(cls, names: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        pools = info.data.get("pools")
        if names and isinstance(pools, ResourcePools) and len(names) != pools.agents:
            raise ValueError(f"names {len(names)} agents but the pool has {pools.agents}")
        return names

    def agent_names(self) -> list[str]:
        """The agent ids of the pool, in order."""
        return list(self.agent_ids) or [f"agent_{i:03d}" for i in range(1, self.pools.agents + 1)]

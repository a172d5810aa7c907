"""Resource pools: their capacities, and the arithmetic of amounts of resources.

Choices the protocol leaves open:

- The countable pools are ``agents``, ``memory_gb``, ``cpu_cores`` and one per tool,
  named ``tool_instances.<tool>`` in events and status. A tool that is not configured has
  capacity 0, so a request that needs an instance of it can never be served.
- Exclusive files are not a pool: their number is unlimited, only who holds each one is
  checked (:mod:`baton_resource.planner`).
- Memory and CPU are fractional. Comparisons allow :data:`EPSILON` of rounding, so a sum of
  floats that is equal on paper compares equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from baton.errors import ConfigError
from baton.protocol.messages import ResourceRequest

__all__ = ["EPSILON", "POOLS_VARIABLE", "Amounts", "ResourcePools", "total"]

EPSILON: Final = 1e-9
"""Rounding allowed when comparing fractional amounts."""

POOLS_VARIABLE: Final = "BATON_RESOURCE_POOLS"
"""Environment variable the service reads the pools from (JSON)."""

ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


@dataclass(frozen=True, slots=True, kw_only=True)
class Amounts:
    """An amount of every countable resource (what a request needs, a pool holds...)."""

    agents: int = 0
    memory_gb: float = 0.0
    cpu_cores: float = 0.0
    tool_instances: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, resources: ResourceRequest) -> Amounts:
        """The countable part of a request or an allocation."""
        return cls(
            agents=resources.agents,
            memory_gb=resources.memory_gb,
            cpu_cores=resources.cpu_cores,
            tool_instances={k: v for k, v in resources.tool_instances.items() if v},
        )

    def plus(self, other: Amounts) -> Amounts:
        """The sum of two amounts."""
        tools = dict(self.tool_instances)
        for name, count in other.tool_instances.items():
            tools[name] = tools.get(name, 0) + count
        return Amounts(
            agents=self.agents + other.agents,
            memory_gb=self.memory_gb + other.memory_gb,
            cpu_cores=self.cpu_cores + other.cpu_cores,
            tool_instances=tools,
        )

    def minus(self, other: Amounts) -> Amounts:
        """What remains of this amount after taking ``other``, never below zero."""
        tools = {
            name: max(0, count - other.tool_instances.get(name, 0))
            for name, count in self.tool_instances.items()
        }
        return Amounts(
            agents=max(0, self.agents - other.agents),
            memory_gb=max(0.0, self.memory_gb - other.memory_gb),
            cpu_cores=max(0.0, self.cpu_cores - other.cpu_cores),
            tool_instances=tools,
        )

    def fits(self, available: Amounts) -> bool:
        """True when this amount can be taken from ``available``."""
        # The planner asks this of every waiting request: compared in place, with the same
        # rule as :meth:`shortfalls` (which also words what is short), nothing built.
        if (
            self.agents > available.agents + EPSILON
            or self.memory_gb > available.memory_gb + EPSILON
            or self.cpu_cores > available.cpu_cores + EPSILON
        ):
            return False
        tools = available.tool_instances
        return not any(
            count > tools.get(name, 0) + EPSILON for name, count in self.tool_instances.items()
        )

    def shortfalls(self, available: Amounts) -> list[str]:
        """One line per pool where this amount exceeds ``available`` (empty: it fits)."""
        out = [
            f"{name}: needs {_num(need)}, has {_num(have)}"
            for name, need, have in self._pairs(available)
            if need > have + EPSILON
        ]
        return out

    def flat(self) -> dict[str, float]:
        """Pool name → amount (``tool_instances.<tool>`` for tools)."""
        out: dict[str, float] = {
            "agents": self.agents,
            "memory_gb": self.memory_gb,
            "cpu_cores": self.cpu_cores,
        }
        for name, count in sorted(self.tool_instances.items()):
            out[f"tool_instances.{name}"] = count
        return out

    def _pairs(self, other: Amounts) -> Iterable[tuple[str, float, float]]:
        yield "agents", self.agents, other.agents
        yield "memory_gb", self.memory_gb, other.memory_gb
        yield "cpu_cores", self.cpu_cores, other.cpu_cores
        for name, count in sorted(self.tool_instances.items()):
            yield f"tool_instances.{name}", count, other.tool_instances.get(name, 0)


def total(amounts: Iterable[Amounts]) -> Amounts:
    """The sum of many amounts (zero when there are none)."""
    # Added up in order, as :meth:`Amounts.plus` one after the other would: the same floats.
    agents, memory, cpu = 0, 0.0, 0.0
    tools: dict[str, int] = {}
    for amount in amounts:
        agents += amount.agents
        memory += amount.memory_gb
        cpu += amount.cpu_cores
        for name, count in amount.tool_instances.items():
            tools[name] = tools.get(name, 0) + count
    return Amounts(agents=agents, memory_gb=memory, cpu_cores=cpu, tool_instances=tools)


def _num(value: float) -> str:
    return f"{value:g}"


class ResourcePools(BaseModel):
    """Capacity of every pool; configured by ``BATON_RESOURCE_POOLS`` (JSON).

    Example: ``{"agents":4,"memory_gb":16,"cpu_cores":8,"tool_instances":{"bash":4}}``.
    A field left out keeps its default; an unknown field is an error.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    agents: int = Field(default=4, ge=0)
    """Agents available to workflows."""
    memory_gb: float = Field(default=16.0, ge=0, allow_inf_nan=False)
    """Memory in GB."""
    cpu_cores: float = Field(default=8.0, ge=0, allow_inf_nan=False)
    """CPU cores (fractions allowed)."""
    tool_instances: dict[ToolName, Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: {"bash": 4, "file_ops": 8, "search": 4, "web": 2}
    )
    """Tool name → number of instances."""

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = POOLS_VARIABLE) -> ResourcePools:
        """Pools from a JSON object.

        Args:
            text: The JSON text, e.g. the value of ``BATON_RESOURCE_POOLS``.
            source: Where the text came from, named in errors.

        Raises:
            ConfigError: not JSON, or a field is unknown or invalid; the message names it.
        """
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
                for err in exc.errors()
            ]
            first = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "value"
            raise ConfigError(
                f"{source}: {'; '.join(problems)}", variable=source, field=first
            ) from None

    @property
    def capacity(self) -> Amounts:
        """The whole capacity as an amount."""
        return Amounts(
            agents=self.agents,
            memory_gb=self.memory_gb,
            cpu_cores=self.cpu_cores,
            tool_instances=dict(self.tool_instances),
        )

    def free(self, *, used: Amounts) -> Amounts:
        """What is left when ``used`` is taken (never below zero)."""
        return self.capacity.minus(used)

    def usage(self, *, used: Amounts) -> dict[str, dict[str, Any]]:
        """Pool name → capacity, used, free and utilisation (percent, 0 for an empty pool)."""
        cap = self.capacity.flat()
        taken = used.flat()
        out: dict[str, dict[str, Any]] = {}
        for name in [*cap, *(n for n in taken if n not in cap)]:
            size = cap.get(name, 0)
            amount = taken.get(name, 0)
            out[name] = {
                "capacity": size,
                "used": _rounded(amount),
                "free": _rounded(max(0.0, size - amount)),
                "utilisation": round(100.0 * amount / size, 2) if size > 0 else 0.0,
            }
        return out


def _rounded(value: float) -> float | int:
    # Sums of fractional amounts carry float noise (0.30000000000000004); status shows 6 places.
    return value if isinstance(value, int) else round(value, 6)

"""Strategy routing with fallback: run the chosen strategy, fall back on failure.

Usage::

    router = StrategyRouter(
        strategies={"ai": enhance_with_model, "static": enhance_with_rules},
        fallbacks={"hybrid": ["ai", "static"]},
    )
    routed = await router.run("hybrid", agent_file)
    routed.value, routed.strategy, routed.errors   # result, who made it, who failed first

A name is a strategy, or a route of strategies tried in order until one returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from baton.client.errors import StrategyError

__all__ = ["Routed", "StrategyRouter"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Routed(Generic[T]):
    """A strategy's result, which strategy produced it, and the errors of those tried first."""

    value: T
    strategy: str
    errors: dict[str, str] = field(default_factory=dict)


class StrategyRouter(Generic[T]):
    """Routes a call to a strategy by name, with fallback routes.

    Args:
        strategies: Name → ``async (*args, **kwargs) -> T``.
        fallbacks: Route name → strategy names tried in order (e.g. ``hybrid``).

    Raises:
        ValueError: a route names a strategy that does not exist.
    """

    def __init__(
        self,
        *,
        strategies: Mapping[str, Callable[..., Awaitable[T]]],
        fallbacks: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.strategies = dict(strategies)
        self.routes = {name: [name] for name in self.strategies}
        for route, names in (fallbacks or {}).items():
            unknown = [n for n in names if n not in self.strategies]
            if unknown or not names:
                raise ValueError(f"route {route!r} names unknown strategies {unknown}")
            self.routes[route] = list(names)

    async def run(self, name: str, *args: Any, **kwargs: Any) -> Routed[T]:
        """Run route (or strategy) ``name``.

        Raises:
            StrategyError: ``name`` is unknown, or every strategy of its route failed.
        """
        route = self.routes.get(name)
        if route is None:
            raise StrategyError(
                f"unknown strategy {name!r}; known: {', '.join(sorted(self.routes))}",
                route=name,
                errors={},
            )
        errors: dict[str, str] = {}
        for strategy in route:
            try:
                value = await self.strategies[strategy](*args, **kwargs)
            except Exception as exc:
                errors[strategy] = f"{type(exc).__name__}: {exc}"
                continue
            return Routed(value, strategy, errors)
        raise StrategyError(f"every strategy of {name!r} failed", route=name, errors=errors)

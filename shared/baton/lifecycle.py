"""The start/stop contract of every Baton client and service, and ``async with`` on it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

__all__ = ["Lifecycle"]


class Lifecycle(ABC):
    """``start()``, an idempotent ``stop()``, and ``async with`` calling them.

    Subclasses implement both; ``stop()`` must be safe to call twice and after a failed
    ``start()``, since ``async with`` and a caller's own clean-up may both call it.
    """

    @abstractmethod
    async def start(self) -> None:
        """Connect and begin work."""

    @abstractmethod
    async def stop(self) -> object:
        """Finish or abandon work and disconnect. Safe to call twice."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

"""A chain of checks that stops at the first failure (validation chain).

Usage::

    chain = ValidationChain([
        Check("config exists", has_config),
        Check("answers given", has_answers),
    ])
    outcome = await chain.run(context)
    if not outcome.success:
        return {"error": outcome.error}

A check is ``async (context) -> str | None``: None passes, a string is the reason it failed.
A check that raises fails with the exception's text; later checks do not run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Check", "ValidationChain", "ValidationOutcome"]

CheckFn = Callable[[Any], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Check:
    """One named check."""

    name: str
    check: CheckFn


@dataclass(frozen=True, slots=True)
class ValidationOutcome:
    """What the chain found.

    Attributes:
        success: Every check passed.
        passed: Names of the checks that passed, in order.
        failed: The check that failed, if any.
        error: Why it failed.
    """

    success: bool
    passed: list[str] = field(default_factory=list)
    failed: str | None = None
    error: str | None = None


class ValidationChain:
    """Runs checks in order; the first failure ends the chain."""

    def __init__(self, checks: Sequence[Check]) -> None:
        self.checks = list(checks)

    async def run(self, context: Any) -> ValidationOutcome:
        """Run the checks on ``context``."""
        passed: list[str] = []
        for item in self.checks:
            try:
                reason = await item.check(context)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if reason is not None:
                return ValidationOutcome(False, passed, item.name, reason)
            passed.append(item.name)
        return ValidationOutcome(True, passed)

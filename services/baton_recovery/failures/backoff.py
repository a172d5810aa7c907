"""Retry delays: exponential backoff with jitter, a cap and a limit on attempts.

Attempt ``n`` (1 for the first) failed; the delay before attempt ``n + 1`` grows from
``base`` by ``factor`` per attempt up to ``max_delay``: the ceiling ``min(max_delay,
base * factor ** (n - 1))`` (the helper protocol doubles from 1 s). With jitter, concurrent retries
spread out instead of arriving together:

- ``equal`` (the default): a uniform delay between half the ceiling and the ceiling, so the
  delays still grow attempt by attempt (with ``factor`` 2 or more each one is at least the
  whole previous ceiling, hence longer than the previous delay, until ``max_delay`` caps
  them);
- ``full``: a uniform delay between 0 and the ceiling (spreads more, but a later delay may
  be shorter than an earlier one);
- ``decorrelated``: a uniform delay between ``base`` and three times the previous delay,
  capped at ``max_delay`` (each delay depends on the one before, not on ``n``);
- ``none``: the ceiling itself.

After ``max_attempts`` attempts (3 by default, as the protocol's configuration has it) there is no
next delay. The random source is a function returning a uniform number in [0, 1), e.g.
``random.Random(42).random``, so the same source gives the same delays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["BackoffPolicy", "Jitter", "RandomSource", "schedule"]

Jitter = Literal["none", "equal", "full", "decorrelated"]
"""How a delay is spread around the exponential ceiling."""

RandomSource = Callable[[], float]
"""A function returning a uniform number in [0, 1)."""


def _unit(rand: RandomSource) -> float:
    value = rand()
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"the random source returned {value!r}, outside [0, 1]")
    return value


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """When to retry, and how often (module doc).

    Attributes:
        base: First delay (its ceiling), in seconds.
        factor: Growth of the ceiling per attempt.
        max_delay: Largest delay, in seconds.
        max_attempts: Attempts in all, the first included.
        jitter: ``equal``, ``full``, ``decorrelated`` or ``none``.
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    max_attempts: int = 3
    jitter: Jitter = "equal"

    def __post_init__(self) -> None:
        if not 0 < self.base < math.inf:
            raise ValueError(f"base must be a positive number of seconds, got {self.base!r}")
        if not 1 <= self.factor < math.inf:
            raise ValueError(f"factor must be at least 1, got {self.factor!r}")
        if not self.base <= self.max_delay < math.inf:
            raise ValueError(f"max_delay must be at least base, got {self.max_delay!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts!r}")

    def exhausted(self, attempts: int) -> bool:
        """True when ``attempts`` attempts leave no retry."""
        return attempts >= self.max_attempts

    def ceiling(self, attempt: int) -> float:
        """The exponential delay after attempt ``attempt`` (1 for the first), capped."""
        exponent = max(0, attempt - 1)
        if self.factor == 1 or exponent == 0:
            return self.base
        if exponent >= math.log(self.max_delay / self.base) / math.log(self.factor):
            return self.max_delay
        return min(self.max_delay, self.base * self.factor**exponent)

    def delay(
        self, *, attempt: int, rand: RandomSource, previous: float | None = None
    ) -> float | None:
        """Seconds to wait after attempt ``attempt`` failed; None when no retry is left.

        Args:
            attempt: The attempt that failed, 1 for the first.
            rand: The random source.
            previous: The delay used before this one (``decorrelated`` only; default
                ``base``).

        Raises:
            ValueError: ``attempt`` is below 1, or the random source left [0, 1].
        """
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        if self.exhausted(attempt):
            return None
        if self.jitter == "none":
            return self.ceiling(attempt)
        if self.jitter == "equal":
            half = self.ceiling(attempt) / 2
            return half + _unit(rand) * half
        if self.jitter == "full":
            return _unit(rand) * self.ceiling(attempt)
        last = self.base if previous is None else min(max(previous, self.base), self.max_delay)
        return min(self.max_delay, self.base + _unit(rand) * (3 * last - self.base))

    def expected_delay(self, attempt: int) -> float:
        """The mean delay after attempt ``attempt``, roughly for ``decorrelated`` (0 when none)."""
        if attempt < 1 or self.exhausted(attempt):
            return 0.0
        ceiling = self.ceiling(attempt)
        if self.jitter == "none":
            return ceiling
        if self.jitter == "equal":
            return 0.75 * ceiling
        if self.jitter == "full":
            return ceiling / 2
        return (self.base + ceiling) / 2


def schedule(policy: BackoffPolicy, *, rand: RandomSource) -> list[float]:
    """Every delay of one retry sequence, from the first failure until none is left."""
    out: list[float] = []
    previous: float | None = None
    for attempt in range(1, policy.max_attempts):
        delay = policy.delay(attempt=attempt, rand=rand, previous=previous)
        if delay is None:  # pragma: no cover - the range stops before exhaustion
            break
        out.append(delay)
        previous = delay
    return out

"""Retry delays: exponential backoff with jitter, a cap and a limit on attempts.

Every wait of Baton that grows after each failure comes from one :class:`BackoffPolicy`:
recovery's retries of a task, a consumer waiting out an outage in place, a service loop
started again, the outbox relay waiting for Kafka, the CLI's requests, the stack's restarts.

Attempt ``n`` (1 for the first) failed; the delay before attempt ``n + 1`` grows from
``base`` by ``factor`` per attempt up to ``max_delay``: the ceiling ``min(max_delay,
base * factor ** (n - 1))``. With jitter, concurrent retries spread out instead of arriving
together:

- ``equal`` (the default): a uniform delay between half the ceiling and the ceiling, so the
  delays still grow attempt by attempt (with ``factor`` 2 or more each one is at least the
  whole previous ceiling, hence longer than the previous delay, until ``max_delay`` caps
  them);
- ``full``: a uniform delay between 0 and the ceiling (spreads more, but a later delay may
  be shorter than an earlier one);
- ``decorrelated``: a uniform delay between ``base`` and three times the previous delay,
  capped at ``max_delay`` (each delay depends on the one before, not on ``n``);
- ``proportional``: the ceiling times a uniform factor in ``[1 - spread, 1 + spread]``,
  capped at ``max_delay``;
- ``none``: the ceiling itself.

After ``max_attempts`` attempts (3 by default; None for no limit) there is no next delay. The
random source is a function returning a uniform number in [0, 1), e.g.
``random.Random(42).random``, so the same source gives the same delays.

:func:`retry` runs an operation until it succeeds, fails for good or a deadline passes,
retrying only failures whose ``retriable`` flag says trying again may succeed.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar

from baton.errors import BatonError, RemoteError, RequestTimeoutError

__all__ = ["BackoffPolicy", "Jitter", "RandomSource", "is_transient", "retry", "schedule"]

T = TypeVar("T")

Jitter = Literal["none", "equal", "full", "decorrelated", "proportional"]
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
        max_attempts: Attempts in all, the first included; None for no limit.
        jitter: ``equal``, ``full``, ``decorrelated``, ``proportional`` or ``none``.
        spread: The relative spread of ``proportional`` jitter, in [0, 1).
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    max_attempts: int | None = 3
    jitter: Jitter = "equal"
    spread: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.base < math.inf:
            raise ValueError(f"base must be a positive number of seconds, got {self.base!r}")
        if not 1 <= self.factor < math.inf:
            raise ValueError(f"factor must be at least 1, got {self.factor!r}")
        if not self.base <= self.max_delay < math.inf:
            raise ValueError(f"max_delay must be at least base, got {self.max_delay!r}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts!r}")
        if not 0 <= self.spread < 1:
            raise ValueError(f"spread must be in [0, 1), got {self.spread!r}")

    def exhausted(self, attempts: int) -> bool:
        """True when ``attempts`` attempts leave no retry."""
        return self.max_attempts is not None and attempts >= self.max_attempts

    def ceiling(self, attempt: int) -> float:
        """The exponential delay after attempt ``attempt`` (1 for the first), capped."""
        exponent = max(0, attempt - 1)
        if self.factor == 1 or exponent == 0:
            return self.base
        if exponent >= math.log(self.max_delay / self.base) / math.log(self.factor):
            return self.max_delay
        return min(self.max_delay, self.base * self.factor**exponent)

    def pause(
        self, *, attempt: int, rand: RandomSource = random.random, previous: float | None = None
    ) -> float:
        """Seconds to wait after attempt ``attempt`` failed, whatever ``max_attempts`` says.

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
        if self.jitter == "none":
            return self.ceiling(attempt)
        if self.jitter == "equal":
            half = self.ceiling(attempt) / 2
            return half + _unit(rand) * half
        if self.jitter == "full":
            return _unit(rand) * self.ceiling(attempt)
        if self.jitter == "proportional":
            scale = 1 - self.spread + 2 * self.spread * _unit(rand)
            return min(self.max_delay, self.ceiling(attempt) * scale)
        last = self.base if previous is None else min(max(previous, self.base), self.max_delay)
        return min(self.max_delay, self.base + _unit(rand) * (3 * last - self.base))

    def delay(
        self, *, attempt: int, rand: RandomSource = random.random, previous: float | None = None
    ) -> float | None:
        """Seconds to wait after attempt ``attempt`` failed; None when no retry is left.

        Raises:
            ValueError: ``attempt`` is below 1, or the random source left [0, 1].
        """
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        if self.exhausted(attempt):
            return None
        return self.pause(attempt=attempt, rand=rand, previous=previous)

    def waits(self, *, rand: RandomSource = random.random) -> Iterator[float]:
        """The delays after attempts 1, 2, ... in turn, until no retry is left (or forever)."""
        previous: float | None = None
        attempt = 1
        while not self.exhausted(attempt):
            previous = self.pause(attempt=attempt, rand=rand, previous=previous)
            yield previous
            attempt += 1

    def expected_delay(self, attempt: int) -> float:
        """The mean delay after attempt ``attempt``, roughly for ``decorrelated`` (0 when none)."""
        if attempt < 1 or self.exhausted(attempt):
            return 0.0
        ceiling = self.ceiling(attempt)
        if self.jitter in ("none", "proportional"):
            return ceiling
        if self.jitter == "equal":
            return 0.75 * ceiling
        if self.jitter == "full":
            return ceiling / 2
        return (self.base + ceiling) / 2


def schedule(policy: BackoffPolicy, *, rand: RandomSource) -> list[float]:
    """Every delay of one retry sequence, from the first failure until none is left.

    Raises:
        ValueError: The policy has no limit on attempts.
    """
    if policy.max_attempts is None:
        raise ValueError("a policy without max_attempts has no end to schedule")
    return list(policy.waits(rand=rand))


def is_transient(error: BaseException) -> bool:
    """Whether trying the same request again may succeed (the error's ``retriable`` flag)."""
    if isinstance(error, RemoteError):
        return error.retriable
    return isinstance(error, BatonError) and error.retriable


_REQUESTS = BackoffPolicy(base=0.5, factor=2.0, max_delay=8.0, max_attempts=5, jitter="none")


async def retry(
    operation: Callable[[float], Awaitable[T]],
    *,
    timeout: float,
    what: str,
    policy: BackoffPolicy = _REQUESTS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_retry: Callable[[int, BatonError, float], None] | None = None,
) -> T:
    """Run ``operation(remaining_seconds)`` until it succeeds, fails for good, or time is up.

    Only transient failures (:func:`is_transient`) are tried again, after the policy's
    delay; the caller keeps the request id the same on every attempt, so a service that got
    the first one answers the repeat from its stored reply instead of applying it twice.

    Args:
        operation: One attempt, given the seconds left before the deadline.
        timeout: Seconds for all attempts together.
        what: What is being done, for the errors' messages.
        policy: The delays and the limit on attempts (default: 0.5 s doubling up to 8 s,
            five attempts).
        sleep: How to wait (a test passes its own).
        on_retry: Called with the attempt that failed, its error and the delay before the next.

    Raises:
        RequestTimeoutError: the deadline passed (also when the last failure was transient).
        BatonError: a failure that is not transient, or the last one after every attempt.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    attempt = 0
    previous: float | None = None
    while True:
        attempt += 1
        remaining = deadline - loop.time()
        try:
            async with asyncio.timeout(remaining):
                return await operation(remaining)
        except TimeoutError:
            error: BatonError = RequestTimeoutError(
                f"{what}: no answer within {timeout:g}s", attempts=attempt
            )
        except BatonError as exc:
            if not is_transient(exc):
                raise
            error = exc
        delay = policy.pause(attempt=attempt, previous=previous)
        if deadline - loop.time() <= delay:
            if isinstance(error, RequestTimeoutError):
                raise error
            raise RequestTimeoutError(
                f"{what}: gave up after {attempt} attempts within {timeout:g}s: {error.message}",
                attempts=attempt,
                last_error=error.to_dict(),
            ) from None
        if policy.exhausted(attempt):
            raise error
        if on_retry is not None:
            on_retry(attempt, error, delay)
        previous = delay
        await sleep(delay)

"""Retries with exponential backoff inside one deadline, for transient failures only.

Whether a failure is transient comes from the error's ``retriable`` flag (an error reply
carries it as a field), never from its message. The caller keeps the request id the same
on every attempt, so a service that got the first one answers the repeat from its stored
reply instead of applying it twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from baton.errors import BatonError, RemoteError, RequestTimeoutError

__all__ = ["Backoff", "is_transient", "with_retries"]

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Delays ``base``, ``base*factor``, ... capped at ``cap`` seconds; at most ``attempts``."""

    base: float = 0.5
    factor: float = 2.0
    cap: float = 8.0
    attempts: int = 5

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.cap, self.base * self.factor ** (attempt - 1)))


def is_transient(error: BaseException) -> bool:
    """Whether trying the same request again may succeed."""
    if isinstance(error, RemoteError):
        return error.error.get("retriable") is True
    return isinstance(error, BatonError) and error.retriable


async def with_retries(
    operation: Callable[[float], Awaitable[T]],
    *,
    timeout: float,
    what: str,
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_retry: Callable[[int, BatonError, float], None] | None = None,
) -> T:
    """Run ``operation(remaining_seconds)`` until it succeeds, fails for good, or time is up.

    Raises:
        RequestTimeoutError: the deadline passed (also when the last failure was transient).
        BatonError: a failure that is not transient, or the last one after every attempt.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    attempt = 0
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
        delay = backoff.delay(attempt)
        if deadline - loop.time() <= delay:
            if isinstance(error, RequestTimeoutError):
                raise error
            raise RequestTimeoutError(
                f"{what}: gave up after {attempt} attempts within {timeout:g}s: {error.message}",
                attempts=attempt,
                last_error=error.to_dict(),
            ) from None
        if attempt >= backoff.attempts:
            raise error
        if on_retry is not None:
            on_retry(attempt, error, delay)
        await sleep(delay)

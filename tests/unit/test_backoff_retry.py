"""Retries with backoff: transient failures only, within the deadline, same operation."""

from __future__ import annotations

import pytest

from baton.backoff import BackoffPolicy, is_transient, retry
from baton.errors import (
    DependencyUnavailableError,
    ProtocolError,
    RemoteError,
    RequestTimeoutError,
)

pytestmark = pytest.mark.timeout(30)

FAST = BackoffPolicy(base=0.01, factor=2.0, max_delay=0.05, max_attempts=5, jitter="none")
SLOW = BackoffPolicy(base=0.05, max_delay=0.05, max_attempts=5, jitter="none")
THREE = BackoffPolicy(base=0.001, max_delay=8, max_attempts=3, jitter="none")


def test_backoff_doubles_up_to_the_cap() -> None:
    b = BackoffPolicy(base=0.5, factor=2.0, max_delay=3.0, max_attempts=None, jitter="none")
    assert [b.delay(attempt=n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_transient_is_decided_by_the_flag() -> None:
    assert is_transient(DependencyUnavailableError("kafka down"))
    assert is_transient(RequestTimeoutError("slow"))
    assert not is_transient(ProtocolError("bad", part="x"))
    assert is_transient(RemoteError("x", error={"retriable": True}))
    assert not is_transient(RemoteError("x", error={"retriable": False}))
    assert not is_transient(RemoteError("x", error={}))
    assert not is_transient(ValueError("not ours"))


async def test_transient_failures_are_retried_until_success() -> None:
    calls: list[float] = []

    async def op(remaining: float) -> str:
        calls.append(remaining)
        if len(calls) < 3:
            raise DependencyUnavailableError("broker away")
        return "ok"

    assert await retry(op, timeout=10, what="t", policy=FAST) == "ok"
    assert len(calls) == 3
    assert calls[0] > calls[1] > calls[2]  # one deadline for all attempts


async def test_a_permanent_failure_is_not_retried() -> None:
    calls = 0

    async def op(remaining: float) -> str:
        nonlocal calls
        calls += 1
        raise RemoteError("no such workflow", error={"retriable": False})

    with pytest.raises(RemoteError):
        await retry(op, timeout=10, what="t", policy=FAST)
    assert calls == 1


async def test_the_deadline_turns_transient_failures_into_a_timeout() -> None:
    async def op(remaining: float) -> str:
        raise DependencyUnavailableError("broker away")

    with pytest.raises(RequestTimeoutError) as caught:
        await retry(
            op,
            timeout=0.1,
            what="t",
            policy=BackoffPolicy(base=0.05, max_delay=0.05, max_attempts=5, jitter="none"),
        )
    assert caught.value.exit_code == 124
    assert caught.value.fields["last_error"]["error"] == "DependencyUnavailableError"


async def test_a_hanging_operation_times_out() -> None:
    import asyncio

    async def op(remaining: float) -> str:
        await asyncio.sleep(10)
        return "late"

    with pytest.raises(RequestTimeoutError):
        await retry(op, timeout=0.1, what="t", policy=FAST)


async def test_attempts_are_bounded() -> None:
    calls = 0

    async def op(remaining: float) -> str:
        nonlocal calls
        calls += 1
        raise RemoteError("busy", error={"retriable": True})

    with pytest.raises(RemoteError):
        await retry(
            op,
            timeout=30,
            what="t",
            policy=BackoffPolicy(base=0.001, max_delay=8, max_attempts=3, jitter="none"),
        )
    assert calls == 3

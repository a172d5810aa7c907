"""Probes of a Kafka broker or cluster: does it answer, how many brokers does it list."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from aiokafka import AIOKafkaClient

from baton.security.kafka_client import KafkaSecurity

__all__ = ["cluster_size", "kafka_answers", "quiet_aiokafka"]

_quiet_depth = 0
_quiet_level = logging.NOTSET


@contextlib.contextmanager
def quiet_aiokafka() -> Iterator[None]:
    """Silence aiokafka's connection errors while probing a broker that may not run yet.

    Probes overlap (each node of a cluster is probed at once): the level is restored when
    the last of them ends, not the first.
    """
    global _quiet_depth, _quiet_level
    logger = logging.getLogger("aiokafka")
    if _quiet_depth == 0:
        _quiet_level = logger.level
        logger.setLevel(logging.CRITICAL)
    _quiet_depth += 1
    try:
        yield
    finally:
        _quiet_depth -= 1
        if _quiet_depth == 0:
            logger.setLevel(_quiet_level)


async def cluster_size(
    *, bootstrap: str, max_wait: float = 5.0, security: KafkaSecurity | None = None
) -> int:
    """How many live brokers the first answering broker of ``bootstrap`` lists in its
    metadata; 0 when none answers.

    Given one address, this is that broker's own answer (not another broker's it would
    forward to), which is what tells one node of a cluster up from down.

    Args:
        bootstrap: The brokers' addresses.
        max_wait: Seconds to wait for the answer.
        security: How to authenticate; unset, plaintext.
    """
    options = security.client_options() if security is not None else {}
    with quiet_aiokafka():
        client = AIOKafkaClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(max_wait * 1000), **options
        )
        try:
            async with asyncio.timeout(max_wait):
                await client.bootstrap()
            return len(client.cluster.brokers())
        except Exception:
            return 0
        finally:
            with contextlib.suppress(Exception):
                await client.close()


async def kafka_answers(
    *, bootstrap: str, max_wait: float = 5.0, security: KafkaSecurity | None = None
) -> bool:
    """Whether a broker at ``bootstrap`` answers a metadata request that lists a broker."""
    return await cluster_size(bootstrap=bootstrap, max_wait=max_wait, security=security) > 0

"""Consumer lag per group: how far each consumer group of this deployment is behind."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from baton.security.kafka_client import KafkaSecurity

__all__ = ["consumer_lags"]


async def consumer_lags(
    *, bootstrap: str, prefix: str, security: KafkaSecurity | None = None
) -> dict[str, float]:
    """Group → records not yet consumed, for every group named ``<prefix>.…``.

    ``security`` authenticates both clients (the monitor's principal); unset, plaintext.
    """
    options = security.client_options() if security is not None else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        groups = [
            g[0] if isinstance(g, tuple) else g.group_id for g in await admin.list_consumer_groups()
        ]
        ours = [g for g in groups if isinstance(g, str) and g.startswith(prefix + ".")]
        committed: dict[str, dict[Any, int]] = {}
        for group in ours:
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    finally:
        await admin.close()
    partitions = {tp for offsets in committed.values() for tp in offsets}
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **options)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(list(partitions))
    finally:
        await consumer.stop()
    return {
        group: float(sum(max(ends[tp] - off, 0) for tp, off in offsets.items()))
        for group, offsets in committed.items()
    }

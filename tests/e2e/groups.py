"""What the broker says of a service's consumer group: which members read a topic, and the
partitions of it each holds.

A replica is two members of its group: one reads the source topic, the other its retry
topics (:mod:`baton.bus.lane`); the members reading the source topic are the replicas.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment as Assignment
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata as Metadata

__all__ = ["readers"]


async def readers(*, bootstrap: str, group: str, topic: str) -> tuple[str, list[set[int]]]:
    """The group's state and, for each member subscribed to ``topic``, the partitions of it
    the member holds (empty while a rebalance is under way)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    _, _, state, _, _, members, *_ = response.groups[0]
    owned: list[set[int]] = []
    for *_, metadata, assignment in members:
        if not metadata or topic not in Metadata.decode(metadata).subscription:
            continue
        held = Assignment.decode(assignment).assignment if assignment else []
        owned.append({p for name, parts in held if name == topic for p in parts})
    return state, owned

"""Consumer lag per group: how far each consumer group of this deployment is behind."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from baton.lifecycle import Lifecycle
from baton.security.kafka_client import KafkaSecurity

__all__ = ["ConsumerLagReader", "consumer_lags"]


class ConsumerLagReader(Lifecycle):
    """Reads the lag of every group named ``<prefix>.…``, reading after reading.

    Its two Kafka clients (an admin client for the groups' committed offsets, a consumer
    without a group for the partitions' ends) are made at the first reading and kept: a
    new client connects and fetches the metadata of every topic of the cluster, which the
    monitor did twice every ten seconds. A reading that fails closes them, so the next one
    starts from fresh connections (the broker may have moved).

    Args:
        bootstrap: The brokers.
        prefix: The deployment's topic prefix; its groups' names start with it.
        security: Authenticates both clients (the monitor's principal); unset, plaintext.
    """

    def __init__(
        self, *, bootstrap: str, prefix: str, security: KafkaSecurity | None = None
    ) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self._options = security.client_options() if security is not None else {}
        self._admin: AIOKafkaAdminClient | None = None
        self._ends: AIOKafkaConsumer | None = None

    @property
    def connected(self) -> bool:
        """Whether clients of an earlier reading are kept."""
        return self._admin is not None

    async def start(self) -> None:
        """Nothing to do: the clients are made by the first reading."""

    async def stop(self) -> None:
        """Close the kept clients. Idempotent."""
        admin, ends = self._admin, self._ends
        self._admin = self._ends = None
        if admin is not None:
            await admin.close()
        if ends is not None:
            await ends.stop()

    async def read(self) -> dict[str, float]:
        """Group → records not yet consumed.

        Raises:
            KafkaError: the broker did not answer (the clients are closed first).
        """
        try:
            return await self._read()
        except BaseException:
            await self.stop()
            raise

    async def _read(self) -> dict[str, float]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **self._options)
            await admin.start()
            self._admin = admin
        groups = [
            g[0] if isinstance(g, tuple) else g.group_id
            for g in await self._admin.list_consumer_groups()
        ]
        ours = [g for g in groups if isinstance(g, str) and g.startswith(self.prefix + ".")]
        committed: dict[str, dict[Any, int]] = {}
        for group in ours:
            offsets = await self._admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        partitions = {tp for offsets in committed.values() for tp in offsets}
        if not partitions:
            return {}
        if self._ends is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, enable_auto_commit=False, **self._options
            )
            await consumer.start()
            self._ends = consumer
        ends = await self._ends.end_offsets(list(partitions))
        return {
            group: float(sum(max(ends[tp] - off, 0) for tp, off in offsets.items()))
            for group, offsets in committed.items()
        }


async def consumer_lags(
    *, bootstrap: str, prefix: str, security: KafkaSecurity | None = None
) -> dict[str, float]:
    """Group → records not yet consumed, for every group named ``<prefix>.…``, with clients
    made for this one reading (the CLI's, a test's); the monitor keeps a
    :class:`ConsumerLagReader`.

    ``security`` authenticates both clients (the monitor's principal); unset, plaintext.
    """
    async with ConsumerLagReader(bootstrap=bootstrap, prefix=prefix, security=security) as reader:
        return await reader.read()

"""A transport lent to a second bus: the owner starts and stops it, the borrower only uses it.

Groups subscribed after the client started get a bus of their own (a started bus takes no
new groups); they share the client's producer through this wrapper, so stopping one of them
cannot close the connection the others still publish on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection, Sequence

from baton.bus.transport import Ack, RevokeCallback, TopicPartition, Transport, TransportConsumer
from baton.protocol.headers import Headers

__all__ = ["BorrowedTransport"]


class BorrowedTransport:
    """Delegates everything to ``owner`` except start and stop, which do nothing."""

    def __init__(self, owner: Transport) -> None:
        self.owner = owner

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def enqueue(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: Headers
    ) -> Awaitable[Ack]:
        return await self.owner.enqueue(topic, key=key, value=value, headers=headers)

    async def flush(self) -> None:
        await self.owner.flush()

    async def partition_for(self, topic: str, *, key: bytes) -> int:
        return await self.owner.partition_for(topic, key=key)

    def consumer(
        self,
        *,
        group: str | None,
        topics: Sequence[str],
        from_beginning: bool,
        on_revoke: RevokeCallback | None = None,
        client_id: str = "baton",
        gather_ms: int | None = None,
    ) -> TransportConsumer:
        return self.owner.consumer(
            group=group,
            topics=topics,
            from_beginning=from_beginning,
            on_revoke=on_revoke,
            client_id=client_id,
            gather_ms=gather_ms,
        )

    async def existing_topics(self, *, among: Collection[str] | None = None) -> set[str]:
        return await self.owner.existing_topics(among=among)

    async def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        return await self.owner.end_offsets(topic)

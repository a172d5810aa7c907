"""A durable responder's replies are remembered in memory only briefly: it stores them."""

from __future__ import annotations

from baton.bus import Bus, MemoryTransport
from baton.config import BatonSettings
from baton.protocol.event import Event


async def _answered_twice(*, durable: bool, requests: int) -> int:
    """How often the first of ``requests`` distinct requests reaches the responder once it
    is repeated after the others."""
    memory = MemoryTransport(partitions=1)
    settings = BatonSettings(topic_prefix="unit", request_timeout=5)
    seen: list[str] = []

    async def respond(request: Event) -> dict[str, object]:
        seen.append(request.request_id or "")
        return {}

    server = Bus(settings=settings.model_copy(update={"component": "server"}), transport=memory)
    client = Bus(settings=settings.model_copy(update={"component": "client"}), transport=memory)
    server.serve("hub", respond, durable=durable)
    async with server, client:
        for n in [*range(requests), 0]:
            await client.request(
                Event.parse("PING:wf_1:p:{}").replace(request_id=f"req_{n}"),
                service="hub",
                timeout=5,
            )
    return seen.count("req_0")


async def test_a_plain_responder_answers_a_repeat_from_memory() -> None:
    assert await _answered_twice(durable=False, requests=1_001) == 1


async def test_a_durable_responder_keeps_only_recent_replies_in_memory() -> None:
    # The responder answers the old repeat from its own store (here: it is asked again).
    assert await _answered_twice(durable=True, requests=1_001) == 2

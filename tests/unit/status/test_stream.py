"""The live stream's broadcaster: fan-out, and an end when the service stops."""

from __future__ import annotations

import asyncio

from baton_status.stream import Broadcaster
from tests.behaviour.helpers import eventually


async def _read(stream: Broadcaster, into: list[bytes]) -> None:
    async for message in stream.messages(first=[("overview", {"n": 0})]):
        into.append(message)


async def test_close_ends_every_open_stream_and_any_opened_later() -> None:
    broadcaster = Broadcaster()
    seen: list[bytes] = []
    reader = asyncio.create_task(_read(broadcaster, seen))
    try:
        await eventually(lambda: broadcaster.clients == 1, what="the client")
        broadcaster.publish("workflow", {"workflow_id": "wf_001"})
        broadcaster.close()
        await asyncio.wait_for(asyncio.shield(reader), 5)  # ended by itself, not cancelled
    finally:
        reader.cancel()
    assert [m.split(b"\n")[0] for m in seen] == [b"event: overview", b"event: workflow"]
    assert broadcaster.clients == 0
    later: list[bytes] = []
    await asyncio.wait_for(_read(broadcaster, later), 5)
    assert len(later) == 1  # its first message, then the end

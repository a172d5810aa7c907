"""A caller's request id (seed 000's envelope) comes back in the reply (issue 16, point 10).

The CLI's session against a responder, on the in-memory bus and on real Kafka.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from baton.cli.jsonin import parse_json
from baton.cli.remote import Session
from baton.protocol.event import Event
from tests.conftest import BusFactory

pytestmark = pytest.mark.timeout(120)

ENVELOPE = (
    '{"operation": "signal", "data": {"sender": "agent_001", "signal_type": "ping"},'
    ' "metadata": {}, "timestamp": "2025-01-01T00:00:00Z", "request_id": "req_fv_env_2"}'
)


class _Quiet:
    def update(self, status: str) -> None:
        del status


async def test_the_envelope_request_id_is_echoed(make_bus: BusFactory) -> None:
    server = await make_bus(component="fake-hub")
    seen: list[str | None] = []

    async def respond(request: Event) -> dict[str, Any]:
        seen.append(request.request_id)
        return {"workflow_id": request.workflow_id, "status": "STARTED"}

    server.serve("hub", respond)
    client = await make_bus(component="cli")
    async with server, client:
        got = parse_json(ENVELOPE, what="signal")
        session = Session(
            bus=client, deadline=asyncio.get_running_loop().time() + 60, status=_Quiet()
        )
        ask = {"service": "hub", "event_type": "SEND_SIGNAL", "workflow_id": "wf_1"}
        named = await session.ask(**ask, data=got.value, request_id=got.request_id)
        assert named == {"request_id": "req_fv_env_2", "workflow_id": "wf_1", "status": "STARTED"}
        # Without an envelope the reply is the service's data, as before.
        plain = await session.ask(**ask, data={"sender": "agent_001", "signal_type": "ping"})
        assert plain == {"workflow_id": "wf_1", "status": "STARTED"}
    assert seen[0] == "req_fv_env_2"
    assert seen[1] is not None
    assert seen[1] != "req_fv_env_2"

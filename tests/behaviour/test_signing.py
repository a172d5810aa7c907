"""Message signing on the bus, against the in-memory transport and real Kafka.

Quarantined records end in the dead-letter topic with their reason, and their handler never
runs; signed records, retry copies and request-response go through as before.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import SecretStr

from baton.bus import Bus
from baton.bus.deadletters import DeadLetter, read_dead_letters, replay_dead_letters
from baton.errors import HandlerError
from baton.protocol.event import Event, encode_record
from baton.protocol.headers import H
from tests.behaviour.helpers import eventually, settle
from tests.conftest import BusFactory

pytestmark = pytest.mark.timeout(180)

KEYS = SecretStr("hub:" + "h" * 32 + ",agents:" + "a" * 32)


def signing(key_id: str = "hub", **more: Any) -> dict[str, Any]:
    return {"signing_keys": KEYS, "signing_key_id": key_id, **more}


async def dead_letters(bus: Bus, count: int) -> list[DeadLetter]:
    topic = bus.topics.dlq(bus.topics.events)
    deadline = time.monotonic() + 60
    found: list[DeadLetter] = []
    while time.monotonic() < deadline:
        found = await read_dead_letters(transport=bus.transport, topic=topic)
        if len(found) >= count:
            break
        await settle(0.2)
    return found


def reasons(letters: list[DeadLetter]) -> dict[str, str]:
    """Event id → ``part: reason`` of each dead letter."""
    return {d.headers[H.EVENT_ID]: d.headers[H.ERROR_MESSAGE] for d in letters}


async def test_signed_events_are_handled_and_bad_ones_quarantined(make_bus: BusFactory) -> None:
    rules = {
        "signing_publishers": ("TASK_COMPLETED:agents",),
        "signing_strict_types": frozenset({"TASK_ASSIGNED"}),
        "signing_strict": False,  # the migration opt-out: other unsigned types let in
    }
    consumer = await make_bus(**signing("hub", **rules))
    agent = await make_bus(**signing("agents", **rules))
    outsider = await make_bus()  # no keys: publishes unsigned
    handled: list[str] = []

    async def on_task(event: Event) -> None:
        handled.append(event.event_id)

    consumer.subscribe("task.#", on_task, group="g-sign")
    await consumer.start()
    await agent.start()
    await outsider.start()

    good = Event.parse("TASK_COMPLETED:wf_1:impl:{'task_id':'t1'}")
    await agent.publish(good)
    lenient = Event.parse("TASK_STARTED:wf_1:impl:{'task_id':'t1'}")
    await outsider.publish(lenient)  # not strict: accepted, counted
    bad: dict[str, str] = {}

    unsigned = Event.parse("TASK_ASSIGNED:wf_1:impl:{'task_id':'t1'}")
    await outsider.publish(unsigned)
    bad[unsigned.event_id] = "header.baton-sig: unsigned"

    wrong = Event.parse("TASK_COMPLETED:wf_1:impl:{'task_id':'t2'}")
    await consumer.publish(wrong)  # the hub's key may not publish TASK_COMPLETED
    bad[wrong.event_id] = "header.baton-key-id: publisher not allowed"

    tampered = Event.parse("TASK_COMPLETED:wf_1:impl:{'task_id':'t3','result':'ok'}")
    key, value, headers = encode_record(tampered)
    assert agent.signing is not None
    agent.signing.sign(key=key, value=value, headers=headers)
    forged = value.replace(b"ok", b"no")
    await agent.send_raw(agent.topics.events, key=key, value=forged, headers=headers, sign=False)
    bad[tampered.event_id] = "header.baton-sig: bad signature"

    replayed = Event.parse("TASK_COMPLETED:wf_1:impl:{'task_id':'t4'}")
    key, value, headers = encode_record(replayed)
    agent.signing.sign(key=key, value=value, headers=headers)
    for _ in range(2):  # the same signed bytes twice: the second copy is a replay
        await agent.send_raw(agent.topics.events, key=key, value=value, headers=headers, sign=False)

    await eventually(lambda: len(handled) >= 3, what="the good events")
    letters = await dead_letters(consumer, len(bad) + 1)
    await settle()
    found = reasons(letters)
    assert {i: found[i] for i in bad} == bad
    assert found[replayed.event_id] == "header.baton-sig: replayed"
    assert len(letters) == len(bad) + 1
    assert all(d.headers[H.ERROR_CLASS] == "QuarantineError" for d in letters)
    assert sorted(handled) == sorted([good.event_id, lenient.event_id, replayed.event_id])
    assert consumer.stats["unsigned_accepted"] == 1
    assert consumer.stats["quarantined"] == len(bad) + 1


async def test_retry_copies_keep_their_signature(make_bus: BusFactory) -> None:
    bus = await make_bus(**signing(signing_strict=True))
    attempts: list[str] = []

    async def flaky(event: Event) -> None:
        attempts.append(event.event_id)
        if len(attempts) < 3:
            raise HandlerError("not yet", retriable=True)

    bus.subscribe("workflow.#", flaky, group="g-retry")
    await bus.start()
    event = Event.parse("WORKFLOW_STARTED:wf_9:research:{}")
    await bus.publish(event)
    await eventually(lambda: len(attempts) >= 3, what="two retries")
    await settle()
    assert attempts == [event.event_id] * 3
    assert bus.stats["quarantined"] == 0
    assert bus.stats["dead_lettered"] == 0


async def test_request_response_and_raw_sends_are_signed(make_bus: BusFactory) -> None:
    server = await make_bus(**signing("hub", signing_strict=True))
    client = await make_bus(**signing("agents", signing_strict=True))

    async def answer(request: Event) -> dict[str, Any]:
        return {"echo": request.data.get("n")}

    server.serve("hub", answer)
    seen: list[str] = []

    async def on_any(event: Event) -> None:
        seen.append(event.event_type)

    server.subscribe("#", on_any, group="g-raw")
    await server.start()
    await client.start()
    reply = await client.request("PING:global:global:{'n':7}", service="hub", timeout=60)
    assert reply.data == {"echo": 7}
    # An outbox row is sent raw, and signed by the process that relays it.
    key, value, headers = encode_record(Event.parse("WORKFLOW_CREATED:wf_3:setup:{}"))
    await client.send_raw(client.topics.events, key=key, value=value, headers=headers)
    await eventually(lambda: "WORKFLOW_CREATED" in seen, what="the raw, signed event")
    assert server.stats["quarantined"] == 0


async def test_a_replayed_dead_letter_is_signed_afresh_unless_it_was_quarantined(
    make_bus: BusFactory,
) -> None:
    keys = SecretStr(KEYS.get_secret_value() + ",ops:" + "o" * 32)
    strict = {"signing_keys": keys, "signing_strict": True}
    consumer = await make_bus(**strict, signing_key_id="hub")
    operator = await make_bus(**strict, signing_key_id="ops")
    outsider = await make_bus()  # no keys: its events are quarantined
    handled: list[str] = []
    failing = True

    async def on_agent(event: Event) -> None:
        if failing:
            raise HandlerError("agent unknown yet", retriable=False)
        handled.append(event.event_id)

    consumer.subscribe("agent.#", on_agent, group="g-replay-signed")
    for bus in (consumer, operator, outsider):
        await bus.start()
    failed = Event.parse("AGENT_ERROR:wf_r:impl:{}")
    await consumer.publish(failed)  # signed by the hub, then dead-lettered by the handler
    forged = Event.parse("AGENT_ERROR:wf_r:impl:{'forged':true}")
    await outsider.publish(forged)
    letters = await dead_letters(consumer, 2)
    assert {d.error_class for d in letters} == {"HandlerError", "QuarantineError"}
    failing = False
    await replay_dead_letters(bus=operator, letters=letters)
    await eventually(lambda: handled == [failed.event_id], what="the replayed event handled")
    found = await dead_letters(consumer, 3)
    assert len(found) == 3  # the forged one, quarantined again; the replay was not
    assert [d.headers[H.EVENT_ID] for d in found[2:]] == [forged.event_id]
    assert found[2].headers[H.ERROR_MESSAGE] == "header.baton-sig: unsigned"
    await settle()
    assert handled == [failed.event_id]

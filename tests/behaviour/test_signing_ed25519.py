"""Ed25519 message signing on the bus, against the in-memory transport and real Kafka.

Publishers sign with their private keys, the consumer holds public keys only: a forged
signature, a publisher's valid key on a type it may not publish, an unsigned event and a
replayed copy are quarantined (dead-lettered with the reason, the handler never runs); a
key rotated while events flow loses none.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from baton.bus.transport import Record
from baton.protocol.event import Event, encode_record
from baton.protocol.headers import H
from baton.security.signing import KEY_ID
from baton.security.signing_key_files import generate_key_pair
from tests.behaviour.helpers import eventually, settle
from tests.behaviour.test_signing import dead_letters, reasons
from tests.conftest import BusFactory

pytestmark = pytest.mark.timeout(180)

RULES = ("TASK_COMPLETED:agents", "TASK_ASSIGNED:hub")
ATTEMPTS = 5


def key_pair(root: Path, publisher: str, key_id: str) -> None:
    """``key_id``'s private key into ``root/<publisher>``, its public key into ``root/public``."""
    key, pub = generate_key_pair(root / "made", key_id=key_id)
    for file, folder in ((key, publisher), (pub, "public")):
        (root / folder).mkdir(exist_ok=True)
        shutil.move(file, root / folder / file.name)


def signing(root: Path, publisher: str | None, **more: Any) -> dict[str, Any]:
    return {
        "signing_public_keys": root / "public",
        "signing_private_keys": root / publisher if publisher else None,
        "signing_publishers": RULES,
        **more,
    }


async def test_forged_wrong_publisher_unsigned_and_replayed_are_quarantined(
    make_bus: BusFactory, tmp_path: Path
) -> None:
    key_pair(tmp_path, "hub", "hub.v1")
    key_pair(tmp_path, "agents", "agents.v1")
    key_pair(tmp_path / "mallory", "hub", "hub.v1")  # a key pair of her own, named as the hub's
    consumer = await make_bus(**signing(tmp_path, None))  # public keys only: cannot sign
    agent = await make_bus(**signing(tmp_path, "agents"))
    mallory = await make_bus(**signing(tmp_path / "mallory", "hub"))
    outsider = await make_bus()
    handled: list[str] = []

    async def on_task(event: Event) -> None:
        handled.append(event.event_id)

    consumer.subscribe("task.#", on_task, group="g-ed25519")
    for bus in (consumer, agent, mallory, outsider):
        await bus.start()
    assert consumer.signing is not None
    assert consumer.signing.ring.signer() is None

    good = Event.parse("TASK_COMPLETED:wf_1:impl:{'task_id':'t1'}")
    await agent.publish(good)
    bad: dict[str, str] = {}
    for n in range(ATTEMPTS):
        forged = Event.parse(f"TASK_ASSIGNED:wf_1:impl:{{'task_id':'f{n}'}}")
        await mallory.publish(forged)
        bad[forged.event_id] = "header.baton-sig: bad signature"
        wrong = Event.parse(f"TASK_ASSIGNED:wf_1:impl:{{'task_id':'w{n}'}}")
        await agent.publish(wrong)  # a valid agents key, on a type only the hub may publish
        bad[wrong.event_id] = "header.baton-key-id: publisher not allowed"
        unsigned = Event.parse(f"TASK_STARTED:wf_1:impl:{{'task_id':'u{n}'}}")
        await outsider.publish(unsigned)  # no rule for the type, but strict is the default
        bad[unsigned.event_id] = "header.baton-sig: unsigned"
    replayed = Event.parse("TASK_COMPLETED:wf_1:impl:{'task_id':'t5'}")
    key, value, headers = encode_record(replayed)
    assert agent.signing is not None
    agent.signing.sign(key=key, value=value, headers=headers)
    for _ in range(1 + ATTEMPTS):  # the same signed bytes again: each copy a replay
        await agent.send_raw(agent.topics.events, key=key, value=value, headers=headers, sign=False)

    await eventually(lambda: len(handled) >= 2, what="the good events")
    letters = await dead_letters(consumer, len(bad) + ATTEMPTS)
    await settle()
    found = reasons(letters)
    assert {i: found[i] for i in bad} == bad
    assert found[replayed.event_id] == "header.baton-sig: replayed"
    assert len(letters) == len(bad) + ATTEMPTS
    assert sorted(handled) == sorted([good.event_id, replayed.event_id])
    stats = consumer.stats
    refused = {
        reason: stats[f"quarantined:{reason}"]
        for reason in ("bad signature", "publisher not allowed", "unsigned", "replayed")
    }
    print(f"\nrefused of {ATTEMPTS} each: {refused}")
    assert refused == dict.fromkeys(refused, ATTEMPTS)
    assert stats["quarantined"] == 4 * ATTEMPTS


async def test_a_key_rotated_while_events_flow_loses_none(
    make_bus: BusFactory, tmp_path: Path
) -> None:
    key_pair(tmp_path, "agents", "agents.v1")
    consumer = await make_bus(**signing(tmp_path, None, signing_reload_interval=0.5))
    agent = await make_bus(**signing(tmp_path, "agents", signing_reload_interval=0.1))
    signed_with: dict[str, str] = {}  # event id → the key id that verified
    handled: dict[str, str] = {}  # event id → key id, in the order handled
    assert consumer.signing is not None
    verify = consumer.signing.verify

    def spy(record: Record, *, event_type: str) -> None:
        verify(record, event_type=event_type)
        h = dict(record.headers)
        signed_with[h[H.EVENT_ID].decode()] = h[KEY_ID].decode()

    consumer.signing.verify = spy  # type: ignore[method-assign]

    async def on_task(event: Event) -> None:
        handled[event.event_id] = signed_with[event.event_id]

    consumer.subscribe("task.#", on_task, group="g-rotate")
    await consumer.start()
    await agent.start()
    sent: list[str] = []
    flowing = True

    async def publish() -> None:
        n = 0
        while flowing:
            n += 1
            event = Event.parse(f"TASK_COMPLETED:wf_{n % 7}:impl:{{'task_id':'t{n}'}}")
            await agent.publish(event)
            sent.append(event.event_id)
            await asyncio.sleep(0.01)

    publisher = asyncio.create_task(publish())
    await eventually(lambda: len(handled) >= 30, what="events signed with v1")
    # Rotation, in the order that needs no coordination: the verifiers get the new public
    # key, then the publisher the new private key (it signs with the newest it holds), then
    # the old private key goes, and once its records are consumed the old public key.
    key_pair(tmp_path / "new", "agents", "agents.v2")
    shutil.move(tmp_path / "new" / "public" / "agents.v2.pub", tmp_path / "public")
    shutil.move(tmp_path / "new" / "agents" / "agents.v2.key", tmp_path / "agents")
    await eventually(
        lambda: list(handled.values())[-20:].count("agents.v2") == 20, what="20 signed with v2"
    )
    (tmp_path / "agents" / "agents.v1.key").unlink()
    flowing = False
    await publisher
    await eventually(lambda: len(handled) == len(sent), what="every event handled")
    (tmp_path / "public" / "agents.v1.pub").unlink()
    await settle(1.2)  # the consumer notices within its reload interval
    # A process still signing with the removed key: refused.
    old_key = tmp_path / "old"
    old_key.mkdir()
    key_pair(old_key, "agents", "agents.v1")
    holder = await make_bus(**signing(old_key, "agents"))
    await holder.start()
    assert holder.signing is not None
    stale: list[str] = []
    for n in range(ATTEMPTS):
        event = Event.parse(f"TASK_COMPLETED:wf_0:impl:{{'task_id':'old{n}'}}")
        key, value, headers = encode_record(event)
        holder.signing.sign(key=key, value=value, headers=headers)
        await holder.send_raw(
            holder.topics.events, key=key, value=value, headers=headers, sign=False
        )
        stale.append(event.event_id)
    letters = await dead_letters(consumer, ATTEMPTS)
    assert reasons(letters) == dict.fromkeys(stale, "header.baton-key-id: unknown key")
    print(
        f"\nrotation: {len(sent)} sent, {len(handled)} handled, refused after removal: "
        f"{consumer.stats['quarantined:unknown key']} of {ATTEMPTS}"
    )
    assert set(handled) == set(sent)
    counts = {k: list(handled.values()).count(k) for k in ("agents.v1", "agents.v2")}
    assert counts["agents.v1"] >= 30
    assert counts["agents.v2"] >= 20
    assert consumer.stats["quarantined"] == ATTEMPTS
    assert consumer.signing.ring.reloads >= 2

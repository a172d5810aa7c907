"""Ed25519 signing with all five services as processes, each with its own key pair, and
the agents (this test's client) with theirs: a workflow runs to COMPLETED with every
record of the events and command topics verified against the public keys; forged,
unsigned and tampered events injected by raw producers are quarantined, never applied.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from baton.bus import Bus
from baton.bus.deadletters import DeadLetter, read_dead_letters
from baton.bus.transport import Record, Transport
from baton.config import BatonSettings
from baton.errors import ProtocolError, RemoteError
from baton.protocol.event import Event, decode_record, encode_record
from baton.protocol.headers import H
from baton.security.signing import KEY_ID
from baton.security.signing_key_files import generate_key_pair
from baton.security.signing_middleware import SigningMiddleware
from tests.e2e.agents import Decision, SimAgents
from tests.e2e.harness import Cluster
from tests.e2e.test_hub_resource import until_status
from tests.e2e.test_signing import WORKFLOW, hub, report, version, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SERVICES = ["resource", "hub", "status", "monitor", "recovery"]
DONE, HELD = "ed_wf_done", "ed_wf_held"
ATTEMPTS = 5  # per kind of attack


def key_pair(root: Path, publisher: str, *, key_id: str | None = None) -> None:
    """``<publisher>.v1``: the private key into ``root/<publisher>``, the public key into
    ``root/public`` (what `baton keys generate` writes, sorted as the chart mounts it)."""
    made = root / "made"
    key, pub = generate_key_pair(made, key_id=key_id or f"{publisher}.v1")
    for file, folder in ((key, publisher), (pub, "public")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.move(file, root / folder / file.name)


def own_key(root: Path, publisher: str) -> dict[str, str]:
    return {
        "BATON_SIGNING_PRIVATE_KEYS": str(root / publisher),
        "BATON_SIGNING_KEY_ID": publisher,
    }


async def read_topic(transport: Transport, topic: str, *, timeout: float = 15) -> list[Record]:
    """Every record of ``topic`` present now, as the broker holds it."""
    ends = {tp: end for tp, end in (await transport.end_offsets(topic)).items() if end > 0}
    records: list[Record] = []
    if not ends:
        return records
    consumer = transport.consumer(
        group=None, topics=[topic], from_beginning=True, client_id="baton.e2e-reader"
    )
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        remaining = dict(ends)
        while remaining and time.monotonic() < deadline:
            for tp, got in (await consumer.fetch(timeout_ms=200, max_records=1000)).items():
                records += [r for r in got if r.offset < ends.get(tp, 0)]
                if got and got[-1].offset + 1 >= ends.get(tp, 0):
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()
    return records


async def test_five_services_sign_with_their_own_keys_and_forgeries_are_quarantined(
    e2e_env: dict[str, str], log_dir: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    for publisher in (*SERVICES, "agents"):
        key_pair(keys, publisher)
    key_pair(tmp_path / "mallory", "agents")  # her own pair, named as the agents' key
    env = {
        **e2e_env,
        "BATON_SIGNING_PUBLIC_KEYS": str(keys / "public"),
        "BATON_RESOURCE_POOLS": '{"agents": 4}',
    }
    client = Bus(
        settings=BatonSettings.from_env(
            {**env, **own_key(keys, "agents")}, component="e2e-client", request_timeout=30
        )
    )
    mallory = Bus(
        settings=BatonSettings.from_env(
            {**e2e_env, **own_key(tmp_path / "mallory", "agents")}, component="mallory"
        )
    )
    outsider = Bus(settings=BatonSettings.from_env(e2e_env, component="outsider"))
    verifier = SigningMiddleware.from_settings(BatonSettings.from_env(env, component="verifier"))
    assert verifier is not None
    assert verifier.policy.key_id is None
    agents = SimAgents(
        bus=client, policy=lambda e: Decision("ignore" if e.workflow_id == HELD else "complete")
    )
    agents.attach()
    expected: dict[str, str] = {}  # event id → the dead letter's reason
    cluster = Cluster(
        SERVICES,
        env=env,
        log_dir=log_dir,
        service_env={name: own_key(keys, name) for name in SERVICES},
    )
    async with cluster, client, mallory, outsider:
        # Every event of this workflow is signed by its publisher's own key and verified.
        await hub(
            client, "CREATE_WORKFLOW", DONE, {"definition": {**WORKFLOW, "workflow_id": DONE}}
        )
        await until_status(client, DONE, "COMPLETED", timeout=90)

        await hub(
            client, "CREATE_WORKFLOW", HELD, {"definition": {**WORKFLOW, "workflow_id": HELD}}
        )

        async def assigned() -> bool:
            return any(a.workflow_id == HELD for a in agents.assignments)

        await wait_for(assigned, "a task assignment of the held workflow")
        task = next(a for a in agents.assignments if a.workflow_id == HELD)
        before = await version(client, HELD)
        for n in range(ATTEMPTS):
            forged = report(task, duration="1s", results={"n": n})
            await mallory.publish(forged)  # a valid signature, of another key: not the agents'
            expected[forged.event_id] = "header.baton-sig: bad signature"
            unsigned = report(task, duration="1s", results={"n": n})
            await outsider.publish(unsigned)
            expected[unsigned.event_id] = "header.baton-sig: unsigned"
            genuine = report(task, duration="1s", results={"ok": True, "n": n})
            k, v, h = encode_record(genuine)
            assert client.signing is not None
            client.signing.sign(key=k, value=v, headers=h)
            tampered = v.replace(b'"ok":true', b'"ok":false')
            await client.send_raw(
                client.topics.events, key=k, value=tampered, headers=h, sign=False
            )
            expected[genuine.event_id] = "header.baton-sig: bad signature"
        command = Event(
            event_type="CREATE_WORKFLOW",
            workflow_id="ed_forged",
            phase="cli",
            data={"definition": {**WORKFLOW, "workflow_id": "ed_forged"}},
            request_id="req_ed_forged",
            reply_to=client.topics.replies,
        )
        await mallory.publish(command, topic=client.topics.commands("hub"))
        expected[command.event_id] = "header.baton-sig: bad signature"

        letters: list[DeadLetter] = []
        sources = (client.topics.events, client.topics.commands("hub"))

        async def all_quarantined() -> bool:
            nonlocal letters
            letters = []
            for source in sources:
                letters += await read_dead_letters(
                    transport=client.transport, topic=client.topics.dlq(source)
                )
            return set(expected) <= {d.headers.get(H.EVENT_ID) for d in letters}

        await wait_for(all_quarantined, "every forged event in the dead-letter topics")
        await asyncio.sleep(3)  # anything wrongly accepted would have been applied by now
        transitions = await version(client, HELD) - before
        forged_exists = True
        try:
            await hub(client, "GET_WORKFLOW", "ed_forged", {})
        except RemoteError:
            forged_exists = False
        records = [r for topic in sources for r in await read_topic(client.transport, topic)]

    # Every record on the events and command topics: verified, or one of the attacks.
    signers: dict[str, set[str]] = {}
    refused: dict[str, str] = {}
    for record in records:
        headers = dict(record.headers)
        event_id = headers[H.EVENT_ID].decode()
        event_type = decode_record(record.value, record.headers).event_type
        try:
            verifier.verify(record, event_type=event_type)
        except ProtocolError as exc:
            refused[event_id] = str(exc)
            continue
        signers.setdefault(event_type, set()).add(headers[KEY_ID].decode())
    assert set(refused) == set(expected), refused
    by_id = {d.headers[H.EVENT_ID]: d.headers[H.ERROR_MESSAGE] for d in letters}
    for event_id, reason in expected.items():
        assert by_id[event_id] == reason, (event_id, by_id[event_id])
    # Nothing genuine was quarantined.
    assert set(by_id) == set(expected), set(by_id) - set(expected)
    print(
        f"\nEd25519 e2e: {len(records)} records, {len(records) - len(refused)} verified, "
        f"attempts={len(expected)} quarantined={len(set(expected) & set(by_id))} "
        f"transitions={transitions}; signers by type: "
        + ", ".join(f"{t}={sorted(k)}" for t, k in sorted(signers.items()))
    )
    # Each service signed with its own key, every one of them verified by the others.
    assert signers["COMPONENT_REGISTERED"] == {f"{name}.v1" for name in SERVICES}
    assert signers["TASK_ASSIGNED"] == {"hub.v1"}
    assert signers["TASK_COMPLETED"] == {"agents.v1"}
    assert signers["CREATE_WORKFLOW"] == {"agents.v1"}
    assert transitions == 0
    assert not forged_exists
    for name in SERVICES:  # each signed with its own key: none started as a verifier only
        log = cluster[name].log_path.read_text(errors="replace")
        assert "this process signs nothing" not in log, name

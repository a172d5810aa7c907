"""Message signing against a real hub process on Kafka and PostgreSQL (issue 9).

With signing on (strict), tampered, unsigned, unknown-key and replayed events that would
change a workflow are all quarantined — dead letters with their reason — and the workflow's
state version does not move: 0 state transitions.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from baton.bus import Bus
from baton.bus.deadletters import DeadLetter, read_dead_letters
from baton.config import BatonSettings
from baton.errors import RemoteError
from baton.protocol.commands import HubCommand
from baton.protocol.event import Event, encode_record
from baton.protocol.headers import H
from tests.e2e.agents import Decision, SimAgents
from tests.e2e.harness import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SERVICE_KEY = "svc:" + "s" * 40
CLIENT_KEY = "client:" + "c" * 40
ATTEMPTS = 5  # per kind of attack
WID = "signed_wf_001"
WORKFLOW: dict[str, Any] = {
    "workflow_id": WID,
    "name": "Signed workflow",
    "priority": "high",
    "phases": ["research", "planning"],
    "resource_requirements": {"agents": 2, "memory": "1GB", "duration": "1h"},
}


async def hub(bus: Bus, command: str, workflow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    reply = await bus.request(
        Event(event_type=command, workflow_id=workflow_id, phase="cli", data=data),
        service="hub",
        timeout=30,
    )
    return reply.data


async def version(bus: Bus, workflow_id: str) -> int:
    return int((await hub(bus, HubCommand.GET, workflow_id, {}))["workflow"]["state_version"])


async def wait_for(check: Any, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


def report(task: Event, **data: Any) -> Event:
    base = {k: task.data[k] for k in ("task_id", "agent_id", "fencing_token")}
    return Event(
        event_type=data.pop("event_type", "TASK_COMPLETED"),
        workflow_id=task.workflow_id,
        phase=task.phase,
        data={**base, **data},
    )


def replay_positions(letters: list[DeadLetter], event_id: str) -> set[tuple[str, str]]:
    """Where the quarantined copies of event ``event_id`` were appended."""
    return {
        (d.headers[H.ORIGINAL_PARTITION], d.headers[H.ORIGINAL_OFFSET])
        for d in letters
        if d.headers.get(H.EVENT_ID) == event_id
    }


async def test_tampered_unsigned_and_replayed_events_are_quarantined(
    e2e_env: dict[str, str], log_dir: Path
) -> None:
    env = {
        **e2e_env,
        "BATON_SIGNING_KEYS": f"{SERVICE_KEY},{CLIENT_KEY}",
        "BATON_SIGNING_KEY_ID": "svc",
        "BATON_SIGNING_STRICT": "true",
        "BATON_RESOURCE_POOLS": '{"agents": 4}',
    }
    client = Bus(
        settings=BatonSettings.from_env(
            {**env, "BATON_SIGNING_KEY_ID": "client"}, component="e2e-client"
        )
    )
    outsider = Bus(settings=BatonSettings.from_env(e2e_env, component="outsider"))
    mallory = Bus(
        settings=BatonSettings.from_env(
            {**e2e_env, "BATON_SIGNING_KEYS": "mallory:" + "m" * 40}, component="mallory"
        )
    )
    agents = SimAgents(bus=client, policy=lambda e: Decision("ignore"))
    agents.attach()
    expected: dict[str, str] = {}  # event id → the dead letter's reason
    async with Cluster(["resource", "hub"], env=env, log_dir=log_dir), client, outsider, mallory:
        wid = WID
        await hub(client, "CREATE_WORKFLOW", wid, {"definition": WORKFLOW})

        async def assigned() -> bool:
            return bool(agents.assignments)

        await wait_for(assigned, "a task assignment")
        task = agents.assignments[0]
        before = await version(client, wid)

        # A genuine, signed TASK_STARTED is applied: one transition.
        started = report(task, event_type="TASK_STARTED", start_time="now")
        key, value, headers = encode_record(started)
        assert client.signing is not None
        client.signing.sign(key=key, value=value, headers=headers)
        await client.send_raw(
            client.topics.events, key=key, value=value, headers=headers, sign=False
        )

        async def applied() -> bool:
            return await version(client, wid) > before

        await wait_for(applied, "the genuine TASK_STARTED")
        baseline = await version(client, wid)

        for n in range(ATTEMPTS):
            # Replayed: the very bytes of the applied TASK_STARTED, at a new offset.
            await client.send_raw(
                client.topics.events, key=key, value=value, headers=headers, sign=False
            )
            # Unsigned: from a process without keys.
            unsigned = report(task, duration="1s", results={"n": n})
            await outsider.publish(unsigned)
            expected[unsigned.event_id] = "header.baton-sig: unsigned"
            # Unknown key.
            stranger = report(task, duration="1s", results={"n": n})
            await mallory.publish(stranger)
            expected[stranger.event_id] = "header.baton-key-id: unknown key"
            # Tampered: signed by the client, then the result changed in transit.
            genuine = report(task, duration="1s", results={"ok": True, "n": n})
            k, v, h = encode_record(genuine)
            client.signing.sign(key=k, value=v, headers=h)
            forged = v.replace(b'"ok":true', b'"ok":false')
            await client.send_raw(client.topics.events, key=k, value=forged, headers=h, sign=False)
            expected[genuine.event_id] = "header.baton-sig: bad signature"
        # An unsigned command that would create a workflow.
        command = Event(
            event_type="CREATE_WORKFLOW",
            workflow_id="forged_wf",
            phase="cli",
            data={"definition": {**WORKFLOW, "workflow_id": "forged_wf"}},
            request_id="req_forged",
            reply_to=client.topics.replies,
        )
        await outsider.publish(command, topic=client.topics.commands("hub"))
        expected[command.event_id] = "header.baton-sig: unsigned"
        attempts = len(expected) + ATTEMPTS

        letters: list[DeadLetter] = []

        async def all_quarantined() -> bool:
            nonlocal letters
            letters = []
            for source in (client.topics.events, client.topics.commands("hub")):
                letters += await read_dead_letters(
                    transport=client.transport, topic=client.topics.dlq(source)
                )
            ids = {d.headers.get(H.EVENT_ID) for d in letters}
            return (
                set(expected) <= ids
                and len(replay_positions(letters, started.event_id)) >= ATTEMPTS
            )

        await wait_for(all_quarantined, "every attack in the dead-letter topics")
        await asyncio.sleep(3)  # anything wrongly accepted would have been applied by now
        after = await version(client, wid)
        forged_exists = True
        try:
            await hub(client, HubCommand.GET, "forged_wf", {})
        except RemoteError:
            forged_exists = False

    by_id: dict[str, set[str]] = {}
    for letter in letters:
        by_id.setdefault(letter.headers[H.EVENT_ID], set()).add(letter.headers[H.ERROR_MESSAGE])
    for event_id, reason in expected.items():
        assert by_id[event_id] == {reason}, (event_id, by_id[event_id])
    assert by_id[started.event_id] == {"header.baton-sig: replayed"}
    replayed = replay_positions(letters, started.event_id)
    quarantined = len(set(expected) & set(by_id)) + len(replayed)
    transitions = after - baseline
    print(
        f"\nsigning e2e: attempts={attempts} quarantined={quarantined} "
        f"transitions={transitions} (replayed={len(replayed)}, dead letters={len(letters)})"
    )
    assert quarantined == attempts
    assert transitions == 0
    assert not forged_exists

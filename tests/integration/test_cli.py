"""The ``baton`` command against the real broker: output, exit codes, dead letters."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from tests.conftest import unique_prefix

from baton.bus import Bus
from baton.bus.deadletters import read_dead_letters
from baton.config import BatonSettings
from baton.protocol.event import Event

pytestmark = pytest.mark.integration

BATON = shutil.which("baton") or str(Path(__file__).resolve().parents[2] / ".venv/bin/baton")


@pytest.fixture
def env(live_stack: BatonSettings) -> dict[str, str]:
    environment = {
        **os.environ,
        "BATON_TOPIC_PREFIX": unique_prefix(),
        "BATON_RETRY_DELAYS": "0.2",
        "BATON_PARTITIONS": "2",
    }
    done = subprocess.run(
        [BATON, "topics", "create", "--json"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return environment


def baton(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BATON, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        input=stdin,
    )


def test_publish_then_tail_returns_the_event_as_json(env: dict[str, str]) -> None:
    done = baton(env, "events", "publish", "PHASE_COMPLETED:wf_001:impl:{'duration':'45m'}")
    assert done.returncode == 0, done.stderr
    ack = json.loads(done.stdout)
    assert ack["routing_key"] == "phase.wf_001.completed"
    assert "missing:actual_duration" in ack["findings"]
    assert ack["line"] == 'PHASE_COMPLETED:wf_001:impl:{"duration":"45m"}'

    tailed = baton(
        env,
        "events",
        "tail",
        "phase.*.completed",
        "--from-beginning",
        "--max",
        "1",
        "--json",
        "--timeout",
        "30",
    )
    assert tailed.returncode == 0, tailed.stderr
    event = json.loads(tailed.stdout)
    assert event["event_id"] == ack["event_id"]
    assert event["data"] == {"duration": "45m"}


def test_partition_asks_the_broker_and_agrees_with_where_events_go(env: dict[str, str]) -> None:
    for workflow in ("wf_001", "wf_002", "bar_17"):
        done = baton(env, "events", "publish", f"PHASE_STARTED:{workflow}:impl:{{}}")
        assert done.returncode == 0, done.stderr
        placed = json.loads(done.stdout)
        asked = baton(env, "partition", workflow, "--json")
        assert asked.returncode == 0, asked.stderr
        answer = json.loads(asked.stdout)
        assert answer["topic"] == placed["topic"]
        assert answer["partitions"] == 2
        assert answer["partition"] == placed["partition"], workflow


def test_exit_codes_bad_input_and_timeout(env: dict[str, str]) -> None:
    bad = baton(env, "events", "publish", "not a line")
    assert bad.returncode == 2
    assert json.loads(bad.stderr)["part"] == "event_type"

    strict = baton(
        env, "events", "validate", "PHASE_COMPLETED:wf:impl:{'duration':'45m'}", "--strict"
    )
    assert strict.returncode == 2
    assert json.loads(strict.stderr)["missing"] == [
        "phase_id",
        "actual_duration",
        "success_metrics",
    ]
    assert baton(env, "events", "validate", "PHASE_COMPLETED:wf:impl:{}").returncode == 0

    waited = baton(env, "events", "tail", "resource.#", "--max", "1", "--timeout", "1")
    assert waited.returncode == 124


def test_many_lines_from_stdin(env: dict[str, str]) -> None:
    lines = "WORKFLOW_STARTED:wf_a:research:{}\nWORKFLOW_STARTED:wf_b:research:{}\n"
    done = baton(env, "events", "publish", "-", stdin=lines)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"routing_key"') == 2


MALFORMED = b"PHASE_COMPLETED:impl_auth_001:{'duration':'45m'}"


async def _dead_letter_one(env: dict[str, str], value: bytes) -> None:
    bus = Bus(settings=BatonSettings.from_env(env, component="test"))

    async def never(event: Event) -> None:
        raise AssertionError(f"a malformed line was handled: {event}")

    bus.subscribe("#", never, group="cli-test-subscriber")
    async with bus:
        await bus.send_raw(bus.topics.events, key=b"impl_auth_001", value=value, headers=[])
        dlq = bus.topics.dlq(bus.topics.events)
        for _ in range(300):
            if await read_dead_letters(transport=bus.transport, topic=dlq):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"nothing dead-lettered in {dlq} within 60 s")


def test_dead_letters_list_and_replay(env: dict[str, str]) -> None:
    # The CLI refuses to publish a malformed line, so put one on the topic raw; a
    # subscriber meets it and dead-letters it with the reason.
    asyncio.run(_dead_letter_one(env, MALFORMED))
    listed = baton(env, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    letters = json.loads(listed.stdout)
    assert len(letters) == 1
    letter = letters[0]
    assert letter["error"]["class"] == "ProtocolError"
    assert letter["error"]["part"] == "phase"
    assert letter["original"]["topic"].endswith(".events")
    assert baton(env, "dlq", "replay").returncode == 2  # says which ones
    dry = baton(
        env, "dlq", "replay", "--offset", f"{letter['partition']}:{letter['offset']}", "--dry-run"
    )
    assert len(json.loads(dry.stdout)["would_replay"]) == 1
    replayed = baton(env, "dlq", "replay", "--error-class", "ProtocolError")
    assert replayed.returncode == 0, replayed.stderr
    assert len(json.loads(replayed.stdout)["replayed"]) == 1


async def _send_raw(env: dict[str, str], *, key: bytes, values: list[bytes]) -> None:
    """Put records on the events topic as a plain Kafka client would (no checks)."""
    async with Bus(settings=BatonSettings.from_env(env, component="test")) as bus:
        for value in values:
            await bus.send_raw(bus.topics.events, key=key, value=value, headers=[])


def test_tail_max_counts_matching_events_only_never_malformed_records(
    env: dict[str, str],
) -> None:
    # Same key, so the same partition: both malformed records come before the match.
    broken = [
        b"RESOURCE_ALLOCATED:W:setup:{not json",  # its routing key matches, its data is bad
        b"not a baton line at all",  # no routing key at all
    ]
    asyncio.run(_send_raw(env, key=b"W", values=broken))
    published = baton(env, "events", "publish", "RESOURCE_ALLOCATED:W:setup:{'agents':1}")
    assert published.returncode == 0, published.stderr
    tailed = baton(
        env,
        "events",
        "tail",
        "resource.W.allocated",
        "--from-beginning",
        "--max",
        "1",
        "--json",
        "--timeout",
        "30",
    )
    assert tailed.returncode == 0, tailed.stderr
    event = json.loads(tailed.stdout)
    assert event["event_id"] == json.loads(published.stdout)["event_id"]
    # Both malformed records are reported on stderr, and neither counted toward --max.
    reported = [json.loads(line) for line in tailed.stderr.splitlines() if line.startswith("{")]
    assert [r["value"] for r in reported] == [value.decode() for value in broken]
    assert reported[0]["part"] == "data"


FAILING_GROUPS = ("dlq-test-hub", "dlq-test-status", "dlq-test-monitor")


async def _copies(bus: Bus, topic: str, count: int) -> None:
    """Wait until ``topic`` holds ``count`` records."""
    for _ in range(300):
        if sum((await bus.transport.end_offsets(topic)).values()) >= count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"fewer than {count} records in {topic} within 60 s")


async def test_one_bad_record_failed_by_many_groups_is_one_dead_letter_replayed_once(
    env: dict[str, str],
) -> None:
    # Where Baton puts this workflow's events (its partitioner, keyed by workflow id)...
    published = await asyncio.to_thread(
        baton, env, "events", "publish", "WORKFLOW_STARTED:wf_kcat:research:{}"
    )
    assert published.returncode == 0, published.stderr
    home = json.loads(published.stdout)["partition"]
    # ...and a malformed line that another client put on the other partition (as kcat's
    # own partitioner may), with the same key: the router moves it home, where every group
    # fails the one copy.
    elsewhere = 1 - home
    settings = BatonSettings.from_env(env, component="test", partition_router=FAILING_GROUPS[0])
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap)
    await producer.start()
    try:
        misplaced = await producer.send_and_wait(
            settings.topics.events, value=MALFORMED, key=b"wf_kcat", partition=elsewhere
        )
    finally:
        await producer.stop()

    async def ignore(event: Event) -> None:
        pass

    bus = Bus(settings=settings)
    for group in FAILING_GROUPS:
        bus.subscribe("#", ignore, group=group)
    async with bus:
        dlq = bus.topics.dlq(bus.topics.events)
        await _copies(bus, dlq, len(FAILING_GROUPS))  # every group keeps its own copy
        listed = await asyncio.to_thread(baton, env, "dlq", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        letters = json.loads(listed.stdout)
        assert len(letters) == 1, letters  # ...and they are one dead letter
        (letter,) = letters
        assert letter["groups"] == sorted(FAILING_GROUPS)
        assert sorted(f["group"] for f in letter["failures"]) == sorted(FAILING_GROUPS)
        assert letter["original"]["partition"] == home
        assert letter["original"]["rerouted_from"] == (
            f"{bus.topics.events}:{elsewhere}:{misplaced.offset}"
        )
        assert letter["id"] == f"{bus.topics.events}:{home}:{letter['original']['offset']}"

        replayed = await asyncio.to_thread(baton, env, "dlq", "replay", "--all")
        assert replayed.returncode == 0, replayed.stderr
        (sent,) = json.loads(replayed.stdout)["replayed"]  # once, not once per group
        assert sent["key"] == "wf_kcat"
        assert (sent["topic"], sent["partition"]) == (bus.topics.events, home)

        # The groups fail the replayed copy again: one new dead letter, at its new place.
        await _copies(bus, dlq, 2 * len(FAILING_GROUPS))
        again = json.loads((await asyncio.to_thread(baton, env, "dlq", "list", "--json")).stdout)
        assert [d["id"] for d in again] == [
            letter["id"],
            f"{bus.topics.events}:{home}:{sent['offset']}",
        ]
        assert again[1]["key"] == "wf_kcat"
        assert again[1]["groups"] == sorted(FAILING_GROUPS)

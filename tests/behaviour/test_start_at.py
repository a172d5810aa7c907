"""Where a subscription starts: a new group at the oldest record (the default) or at the
end (``StartAt.LATEST`` after ``wait_assigned``); a group with commits continues from them."""

from __future__ import annotations

from baton.bus import StartAt
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually, settle
from tests.conftest import BusFactory


def allocated(workflow_id: str) -> Event:
    return Event(event_type="RESOURCE_ALLOCATED", workflow_id=workflow_id, phase="setup", data={})


async def test_new_groups_start_at_the_oldest_record_or_at_the_end(make_bus: BusFactory) -> None:
    publisher = await make_bus()
    await publisher.start()
    for n in range(8):  # on every partition
        await publisher.publish(allocated(f"wf_old_{n}"))
    earliest: list[str] = []
    latest: list[str] = []

    async def on_earliest(event: Event) -> None:
        earliest.append(event.workflow_id)

    async def on_latest(event: Event) -> None:
        latest.append(event.workflow_id)

    reader = await make_bus()
    reader.subscribe("resource.*.allocated", on_earliest, group="g-earliest")
    reader.subscribe("resource.*.allocated", on_latest, group="g-latest", start_at=StartAt.LATEST)
    await reader.start()
    held = await reader.wait_assigned(group="g-latest")
    assert held  # alone in its group: every partition
    for n in range(8):
        await publisher.publish(allocated(f"wf_new_{n}"))
    await eventually(lambda: len(latest) >= 8 and len(earliest) >= 16, what="deliveries")
    await settle()
    assert sorted(latest) == sorted(f"wf_new_{n}" for n in range(8))
    assert sorted(earliest) == sorted(f"wf_{age}_{n}" for age in ("old", "new") for n in range(8))


async def test_a_group_with_commits_continues_from_them_whatever_its_start(
    make_bus: BusFactory,
) -> None:
    publisher = await make_bus()
    await publisher.start()
    seen: list[str] = []

    async def record(event: Event) -> None:
        seen.append(event.data["step"])

    def step(name: str) -> Event:  # one workflow: one partition, where the group commits
        return Event(
            event_type="RESOURCE_ALLOCATED", workflow_id="wf_a", phase="setup", data={"step": name}
        )

    first = await make_bus()
    first.subscribe("resource.#", record, group="g-resume", start_at=StartAt.LATEST)
    await first.start()
    await first.wait_assigned(group="g-resume")
    await publisher.publish(step("before stop"))
    await eventually(lambda: seen == ["before stop"], what="the first event")
    await first.stop()
    await publisher.publish(step("while away"))
    second = await make_bus()
    second.subscribe("resource.#", record, group="g-resume", start_at=StartAt.LATEST)
    await second.start()
    await eventually(lambda: "while away" in seen, what="the event published while away")
    assert seen == ["before stop", "while away"]

"""BatonClient on the in-memory bus: publishing, subscribing, asking the hub, waiting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from baton.bus import Bus
from baton.client import BatonClient, ClientError
from baton.errors import ConfigError, ProtocolError, RemoteError, RequestTimeoutError
from baton.protocol.commands import HubCommand, reply_data
from baton.protocol.commands.replies import CreateWorkflowReply, GetWorkflowReply
from baton.protocol.event import Event
from tests.behaviour.helpers import eventually
from tests.unit.client.conftest import ClientFactory, Responder

pytestmark = pytest.mark.timeout(60)


def test_from_env_reads_the_environment_it_is_given() -> None:
    client = BatonClient.from_env(
        component="tool", env={"BATON_TOPIC_PREFIX": "acme", "BATON_REQUEST_TIMEOUT": "7"}
    )
    assert client.settings.topics.events == "acme.events"
    assert client.settings.request_timeout == 7
    assert client.settings.component == "tool"


def test_a_bad_component_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        BatonClient(component="no spaces allowed")


async def test_publishing_needs_a_started_client(make_client: ClientFactory) -> None:
    client = make_client()
    with pytest.raises(ClientError):
        await client.publish(event_type="X_Y", workflow_id="wf")


async def _listening(make_client: ClientFactory) -> tuple[BatonClient, list[Event]]:
    """A client whose group records the ``research.#`` events it reads."""
    seen: list[Event] = []

    async def record(event: Event) -> None:
        seen.append(event)

    listener = make_client("listener")
    await listener.subscribe("research.#", record, group="g")
    return listener, seen


async def test_publish_takes_parts_a_line_or_an_event(make_client: ClientFactory) -> None:
    listener, seen = await _listening(make_client)
    sender = make_client("sender")
    async with listener, sender:
        await sender.publish(
            event_type="RESEARCH_STARTED", workflow_id="wf_1", phase="research", data={"n": 1}
        )
        await sender.publish("RESEARCH_DONE:wf_1:research:{'n': 2}")
        await sender.publish(Event(event_type="RESEARCH_NOTE", workflow_id="wf_1", phase="r"))
        await eventually(lambda: len(seen) == 3, what="three events")
    assert [e.event_type for e in seen] == ["RESEARCH_STARTED", "RESEARCH_DONE", "RESEARCH_NOTE"]
    assert seen[0].data == {"n": 1}
    assert seen[1].data == {"n": 2}
    assert seen[0].source == "sender"


async def test_events_sent_before_their_acks_keep_their_order(
    make_client: ClientFactory,
) -> None:
    listener, seen = await _listening(make_client)
    sender = make_client("sender")
    with pytest.raises(ClientError):
        await sender.send(event_type="RESEARCH_STARTED", workflow_id="wf_1")
    async with listener, sender:
        acks = [
            await sender.send(event_type=f"RESEARCH_STEP{n}", workflow_id="wf_1", data={"n": n})
            for n in range(5)
        ]
        for ack in acks:
            await ack
        await eventually(lambda: len(seen) == 5, what="five events")
    assert [e.data["n"] for e in seen] == list(range(5))


async def test_publish_refuses_an_event_and_parts_together(make_client: ClientFactory) -> None:
    async with make_client() as client:
        with pytest.raises(ProtocolError):
            await client.publish("A_B:wf:p:{}", event_type="A_B")
        with pytest.raises(ProtocolError):
            await client.publish(event_type="A_B")


async def test_a_group_can_join_after_start_and_leave_again(make_client: ClientFactory) -> None:
    seen: list[str] = []

    async def record(event: Event) -> None:
        seen.append(event.event_type)

    async with make_client() as client:
        await client.subscribe(["task.*.assigned", "workflow.#"], record, group="late")
        with pytest.raises(ClientError):
            await client.subscribe("task.#", record, group="late")
        await client.publish(event_type="TASK_ASSIGNED", workflow_id="wf", data={})
        await client.publish(event_type="WORKFLOW_PAUSED", workflow_id="wf", data={})
        await client.publish(event_type="PHASE_STARTED", workflow_id="wf", data={})
        await eventually(lambda: len(seen) == 2, what="both matching events")
        await client.unsubscribe("late")
        await client.stop()
        await client.stop()  # idempotent
    assert sorted(seen) == ["TASK_ASSIGNED", "WORKFLOW_PAUSED"]


def _hub(statuses: list[str]) -> Responder:
    """A stand-in hub: creates anything, then reports ``statuses`` one GET after another
    (its replies built from the hub's reply models; ``bad``: a GET reply that does not fit)."""

    async def respond(request: Event) -> dict[str, Any]:
        if request.event_type == HubCommand.CREATE_WORKFLOW:
            created = CreateWorkflowReply(
                workflow_id=request.workflow_id,
                status="CREATED",
                state_version=1,
                events=["WORKFLOW_CREATED"],
            )
            return reply_data(created)
        if request.event_type == HubCommand.GET:
            if request.workflow_id == "missing":
                raise RemoteError("no workflow missing", error={"error": "UnknownItemError"})
            if request.workflow_id == "bad":
                return {"workflow": {"status": "STARTED"}}
            status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            state = {
                "status": status,
                "state_version": 3,
                "current_phase": 1,
                "phases": [{"name": "research"}, {"name": "plan"}],
            }
            return reply_data(GetWorkflowReply(workflow=state, workflow_state={}))
        raise AssertionError(request.event_type)

    return respond


async def test_create_status_and_wait_ask_the_hub(
    make_client: ClientFactory, serve_hub: Callable[[Responder], Awaitable[Bus]]
) -> None:
    await serve_hub(_hub(["SCHEDULED", "STARTED", "STARTED", "COMPLETED"]))
    async with make_client() as client:
        created = await client.create_workflow({"workflow_id": "wf_7", "phases": ["a"]}, timeout=5)
        assert created == {
            "workflow_id": "wf_7",
            "status": "CREATED",
            "state_version": 1,
            "events": ["WORKFLOW_CREATED"],
        }
        first = await client.workflow_status("wf_7", timeout=5)
        assert (first.status, first.phase, first.state_version) == ("SCHEDULED", "plan", 3)
        assert not first.terminal
        done = await client.wait_for_workflow("wf_7", timeout=20, poll_interval=0.05)
        assert done.status == "COMPLETED"
        assert done.terminal
        with pytest.raises(ProtocolError):
            await client.create_workflow({"name": "no id"}, timeout=5)
        with pytest.raises(RemoteError):
            await client.workflow_status("missing", timeout=5)
        with pytest.raises(ProtocolError) as caught:  # a reply that breaks the hub's contract
            await client.workflow_status("bad", timeout=5)
        assert caught.value.fields["part"] == "reply.data.workflow_state"


async def test_waiting_past_the_timeout_raises(
    make_client: ClientFactory, serve_hub: Callable[[Responder], Awaitable[Bus]]
) -> None:
    await serve_hub(_hub(["STARTED"]))
    async with make_client() as client:
        with pytest.raises(RequestTimeoutError) as caught:
            await client.wait_for_workflow("wf_8", timeout=0.5, poll_interval=0.05)
        assert caught.value.fields["status"] == "STARTED"
        started = await client.wait_for_workflow("wf_8", statuses=["STARTED"], timeout=5)
        assert started.status == "STARTED"

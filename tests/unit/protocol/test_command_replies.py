"""Each command's reply has a model; what the services build for a reply fits it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from baton.protocol.commands import (
    COMMANDS,
    REPLIES,
    REQUESTS,
    CommandReply,
    HubCommand,
    OpenReply,
    parse_reply,
    reply_data,
)
from baton.protocol.commands.replies import (
    AllocateReply,
    GetWorkflowReply,
    MonitorHealthReply,
    ReleaseReply,
    RenewReply,
    StartPhaseReply,
    SystemOverviewReply,
    TransitionReply,
    WorkflowChangeReply,
    WorkflowStatusReply,
)
from baton.protocol.schemas import render_schemas
from baton_hub import workflow as wf
from baton_monitor.health import Registry, snapshot
from baton_resource.allocator import Allocator
from baton_resource.operations import allocate, released, renew, transition
from baton_resource.pools import ResourcePools
from baton_status.api_models import Overview, WorkflowDetail
from tests.unit.hub.test_definition import FEATURE_DEV_001
from tests.unit.resource.support import T0, make

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def test_every_command_has_a_reply_model() -> None:
    commands = {c for kind in COMMANDS.values() for c in kind}
    assert set(REPLIES) == commands


def test_a_closed_reply_refuses_a_field_it_does_not_name_and_an_open_one_keeps_it() -> None:
    with pytest.raises(ValidationError, match="surprise"):
        WorkflowChangeReply.model_validate(
            {"workflow_id": "wf_1", "status": "STARTED", "state_version": 2, "surprise": 1}
        )
    status = WorkflowStatusReply.model_validate({"workflow_id": "w", "status": "S", "tasks": []})
    assert reply_data(status) == {"workflow_id": "w", "status": "S", "tasks": []}
    assert issubclass(WorkflowStatusReply, OpenReply)


def test_reply_data_leaves_out_what_was_not_set() -> None:
    reply = AllocateReply(allocation_response={"status": "queued"}, reason=None, repeated=False)
    assert reply_data(reply) == {
        "allocation_response": {"status": "queued"},
        "reason": None,
        "repeated": False,
    }
    assert parse_reply(AllocateReply, reply_data(reply)).agent_ids is None


def test_the_hubs_replies_fit_their_models() -> None:
    state, _ = wf.create(FEATURE_DEV_001, now=NOW)
    GetWorkflowReply(workflow=state.model_dump(mode="json"), **wf.state_sync(state))
    for already_running in (False, True):
        StartPhaseReply(
            workflow_id=state.workflow_id,
            status=state.status,
            state_version=state.state_version,
            **wf.start_phase_reply(state, phase="1", already_running=already_running),
        )


def _data(change: Any, allocator: Allocator) -> dict[str, Any]:
    reply, _ = change(allocator, T0)
    reply.pop("unchanged", None)  # the handler's, never sent
    result: dict[str, Any] = reply
    return result


def test_the_resource_managers_replies_fit_their_models() -> None:
    allocator = Allocator(pools=ResourcePools(agents=2), remember_hours=1)
    granted = AllocateReply.model_validate(_data(allocate(make("req_1", "wf_1")), allocator))
    assert granted.allocation_response["status"] == "approved"
    allocation_id = granted.allocation_response["allocated_resources"]["allocation_id"]
    RenewReply.model_validate(_data(renew(allocation_id, hours=2), allocator))
    TransitionReply.model_validate(
        _data(
            lambda a, now: transition(a, now, source="wf_1", target="wf_2", rid="req_2"),
            allocator,
        )
    )
    release = lambda a, now: released(a.release(now=now, workflow_id="wf_2", reason="done"))  # noqa: E731
    ReleaseReply.model_validate(_data(release, allocator))


def test_the_status_and_monitor_replies_fit_their_models() -> None:
    detail = WorkflowDetail(workflow_id="wf_1", status="STARTED")
    WorkflowStatusReply.model_validate(detail.model_dump(mode="json"))
    SystemOverviewReply.model_validate(Overview(at=NOW.isoformat()).model_dump(mode="json"))
    MonitorHealthReply.model_validate(snapshot(Registry(), now=NOW, interval=10.0))


def test_asyncapi_lists_each_commands_request_and_reply_schemas() -> None:
    document = yaml.safe_load(render_schemas()["asyncapi.yaml"])
    schemas = document["components"]["schemas"]
    for service, kind in COMMANDS.items():
        channel = document["channels"][f"commands{service.capitalize()}"]
        contracts = channel["x-baton-command-contracts"]
        assert set(contracts) == {c.value for c in kind}
        for command in kind:
            contract = contracts[command.value]
            for key, model in (("request", REQUESTS), ("replySchema", REPLIES)):
                name = contract[key]["$ref"].removeprefix("#/components/schemas/")
                assert name == model[command].__name__
                assert name in schemas
    assert "state_version" in schemas["WorkflowChangeReply"]["properties"]
    assert issubclass(REPLIES[HubCommand.GET], CommandReply)

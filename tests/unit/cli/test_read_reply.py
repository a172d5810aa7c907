"""The CLI reads the replies it uses through the command's reply model."""

from __future__ import annotations

import pytest

from baton.cli.remote import read_reply
from baton.errors import BatonError
from baton.protocol.commands.replies import WorkflowChangeReply, WorkflowStatusReply


def test_the_echoed_request_id_is_not_part_of_the_reply() -> None:
    got = {"request_id": "req_1", "workflow_id": "wf", "status": "PAUSED", "state_version": 4}
    reply = read_reply(WorkflowChangeReply, got, service="hub")
    assert (reply.workflow_id, reply.status, reply.state_version) == ("wf", "PAUSED", 4)


def test_an_open_reply_keeps_what_its_model_does_not_name() -> None:
    got = {"workflow_id": "wf", "status": "STARTED", "progress": 40.0, "phases": []}
    reply = read_reply(WorkflowStatusReply, got, service="status")
    assert (reply.progress, reply.current_phase) == (40.0, None)
    assert reply.model_extra == {"phases": []}


def test_a_reply_that_does_not_fit_is_the_services_fault_not_the_callers() -> None:
    with pytest.raises(BatonError) as caught:
        read_reply(WorkflowChangeReply, {"workflow_id": "wf", "status": "X"}, service="hub")
    assert caught.value.exit_code == 1
    assert caught.value.fields["service"] == "hub"
    assert caught.value.fields["problems"][0]["field"] == "reply.state_version"
    assert "WorkflowChangeReply" in caught.value.message

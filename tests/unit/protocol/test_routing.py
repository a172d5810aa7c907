"""Routing keys from event types, and subscription patterns with ``*`` and ``#``."""

from __future__ import annotations

import pytest

from baton.errors import ProtocolError
from baton.protocol.codec import format_line, parse_line
from baton.protocol.routing import Pattern, routing_key, routing_key_from_line


@pytest.mark.parametrize(
    ("event_type", "workflow_id", "key"),
    [
        ("RESOURCE_ALLOCATED", "wf_001", "resource.wf_001.allocated"),
        ("AGENT_PERFORMANCE_ALERT", "wf_001", "agent.wf_001.performance_alert"),
        ("SYSTEM_THRESHOLD", "global", "system.global.threshold"),
        ("HEARTBEAT", "wf", "heartbeat.wf.event"),
        ("PHASE_COMPLETED", "wf.v2.x", "phase.wf~v2~x.completed"),
        ("TASK_DONE", "-_-", "task.-_-.done"),
    ],
)
def test_routing_key(event_type: str, workflow_id: str, key: str) -> None:
    assert routing_key(event_type, workflow_id) == key


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (b"RESOURCE_ALLOCATED:wf_001:setup:{}", "resource.wf_001.allocated"),
        (b"RESOURCE_ALLOCATED:wf_001", None),
        (b"RESOURCE_ALLOCATED:wf_001:", "resource.wf_001.allocated"),
        (b"PHASE_COMPLETED:a.b:ph:{'x':'1:2'}", "phase.a~b.completed"),
        (b'"PHASE_COMPLETED:wf_001:impl:{}"', "phase.wf_001.completed"),
        (b"", None),
        (b":wf:ph:{}", None),
        (b"A::ph:{}", None),
        (b'"', None),
        (b"A:w\xc3\xa9:ph:{}", None),
        (b"no colon at all", None),
    ],
)
def test_routing_key_from_line(value: bytes, key: str | None) -> None:
    assert routing_key_from_line(value) == key


def test_key_from_line_agrees_with_the_parsed_line() -> None:
    for text in ('"PHASE_COMPLETED:wf.1:impl:{}"', format_line("TASK_STARTED", "a.b", "p", {})):
        line = parse_line(text)
        assert routing_key_from_line(text.encode()) == routing_key(
            line.event_type, line.workflow_id
        )


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("resource.*.allocated", ["resource.wf_001.allocated"],
         ["resource.wf_001.released", "resource.allocated", "resource.a.b.allocated"]),
        ("workflow.#", ["workflow", "workflow.wf.created", "workflow.a.b.c.d"],
         ["workflowx.wf.created", "resource.workflow.created"]),
        ("#", ["a", "a.b.c", "resource.wf.allocated"], []),
        ("*", ["a"], ["a.b"]),
        ("*.*.*", ["a.b.c"], ["a.b", "a.b.c.d"]),
        ("a.#.b", ["a.b", "a.x.b", "a.x.y.b"], ["a", "a.b.c", "b.a.b"]),
        ("#.allocated", ["resource.wf.allocated", "allocated"], ["resource.wf.allocatedx"]),
        ("#.wf~1.#", ["phase.wf~1.completed", "wf~1"], ["phase.wf.1.completed"]),
        ("phase.wf~1.completed", ["phase.wf~1.completed"], ["phase.wf_1.completed"]),
        ("a.*.#", ["a.b", "a.b.c.d"], ["a"]),
        ("resource.*.performance_alert", ["resource.x.performance_alert"],
         ["resource.x.performance"]),
    ],
)  # fmt: skip
def test_pattern_matching(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    compiled = Pattern(pattern)
    for key in matching:
        assert compiled.matches(key), key
    for key in not_matching:
        assert not compiled.matches(key), key


def test_pattern_matches_keys_of_workflows_with_dots() -> None:
    key = routing_key("RESOURCE_ALLOCATED", "team.a.wf_001")
    assert Pattern("resource.*.allocated").matches(key)
    assert Pattern("resource.team~a~wf_001.*").matches(key)
    assert not Pattern("resource.team.*").matches(key)


def test_pattern_regex_characters_are_literal() -> None:
    assert not Pattern("a-b.c").matches("axb.c")
    assert Pattern("a-b.c").matches("a-b.c")


@pytest.mark.parametrize("text", ["", "a..b", ".a", "a.", "a.b*", "a.(b)", "a b", "a.**", "é"])
def test_bad_patterns(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        Pattern(text)
    assert info.value.part == "pattern"


def test_pattern_identity() -> None:
    assert Pattern("a.#") == Pattern("a.#")
    assert Pattern("a.#") != Pattern("a.*")
    assert Pattern("a.#") != "a.#"
    assert len({Pattern("a.#"), Pattern("a.#")}) == 1
    assert repr(Pattern("a.*")) == "Pattern('a.*')"

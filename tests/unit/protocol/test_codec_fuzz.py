"""Fuzzing the codec: nothing but ProtocolError escapes, and valid events round-trip."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baton.errors import ProtocolError
from baton.protocol.codec import Line, format_line, parse_data, parse_line
from baton.protocol.relaxed_json import loads

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIGHT = settings(FUZZ, max_examples=150)
PARTS = re.compile(r"^(line|event_type|workflow_id|phase|data(\.[^.].*|\[.*)?)$")
EVENT_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*$")
ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")

any_char = st.characters(codec=None, exclude_categories=())
event_types = st.from_regex(r"[A-Z][A-Z0-9_]{0,24}", fullmatch=True)
ids = st.from_regex(r"[A-Za-z0-9_.-]{1,24}", fullmatch=True)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=16,
)
objects = st.dictionaries(st.text(max_size=8), values, max_size=5)


def single_quoted(value: Any) -> str:
    """Render ``value`` as the seeds do: JSON with single-quoted strings."""
    if isinstance(value, str):
        out = []
        for char in value:
            if char in "\\'":
                out.append("\\" + char)
            elif char < " ":
                out.append(f"\\u{ord(char):04x}")
            else:
                out.append(char)
        return "'" + "".join(out) + "'"
    if isinstance(value, dict):
        return (
            "{" + ",".join(f"{single_quoted(k)}:{single_quoted(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(single_quoted(v) for v in value) + "]"
    return orjson.dumps(value).decode()


def attempt(parse: Callable[[Any], Any], raw: Any) -> Any:
    """The result of ``parse(raw)``, or the ProtocolError it raised."""
    try:
        return parse(raw)
    except ProtocolError as exc:
        return exc


def check_error(error: ProtocolError, raw: str | bytes) -> None:
    """A rejection names a known part and a position inside the input."""
    assert PARTS.match(error.part), error.part
    assert error.position is None or 0 <= error.position <= len(raw)
    assert error.message


def check_outcome(raw: str | bytes) -> None:
    """Parsing returns a valid Line or raises a ProtocolError naming a part and a position."""
    line = attempt(parse_line, raw)
    if isinstance(line, ProtocolError):
        check_error(line, raw)
        return
    assert EVENT_TYPE.match(line.event_type)
    assert ID.match(line.workflow_id)
    assert ID.match(line.phase)
    assert isinstance(line.data, dict)
    normal = format_line(line.event_type, line.workflow_id, line.phase, line.data)
    assert parse_line(normal) == line


@FUZZ
@given(st.text(alphabet=any_char, max_size=80))
def test_arbitrary_text(raw: str) -> None:
    check_outcome(raw)


@FUZZ
@given(st.binary(max_size=80))
def test_arbitrary_bytes(raw: bytes) -> None:
    check_outcome(raw)


@st.composite
def near_valid_lines(draw: st.DrawFn) -> str:
    bad = draw(st.sampled_from(["none", "none", "event_type", "workflow_id", "phase"]))
    event_type = draw(
        st.text(alphabet="AZaz09_- :\"'", max_size=8) if bad == "event_type" else event_types
    )
    workflow_id = draw(
        st.text(alphabet="ab.-_:/ é\n", max_size=8) | st.just("w" * 129)
        if bad == "workflow_id"
        else ids
    )
    phase = draw(st.text(alphabet="ab.-_:/ é", max_size=8) if bad == "phase" else ids)
    data = draw(
        objects.map(lambda o: orjson.dumps(o).decode())
        | objects.map(single_quoted)
        | st.text(alphabet="{}[]\"':,\\u0123abtrue nl-.eE", max_size=30)
    )
    line = f"{event_type}:{workflow_id}:{phase}:{data}"
    if draw(st.booleans()):
        line = f'"{line}"'
    mutation = draw(st.sampled_from(["none", "truncate", "insert", "delete"]))
    if mutation == "none" or not line:
        return line
    at = draw(st.integers(min_value=0, max_value=len(line) - 1))
    if mutation == "truncate":
        return line[:at]
    if mutation == "delete":
        return line[:at] + line[at + 1 :]
    char = draw(st.sampled_from(list("{}[]\"':,\\ \n\t\x00é\ud800")) | any_char)
    return line[:at] + char + line[at:]


@settings(FUZZ, max_examples=150)
@given(near_valid_lines())
def test_near_valid_lines(raw: str) -> None:
    check_outcome(raw)
    try:
        encoded = raw.encode()
    except UnicodeEncodeError:
        return
    check_outcome(encoded)


@LIGHT
@given(event_types, ids, ids, objects)
def test_round_trip(event_type: str, workflow_id: str, phase: str, data: dict[str, Any]) -> None:
    text = format_line(event_type, workflow_id, phase, data)
    assert parse_line(text) == Line(event_type, workflow_id, phase, data)
    assert parse_line(text.encode()) == Line(event_type, workflow_id, phase, data)
    quoted = f"{event_type}:{workflow_id}:{phase}:{single_quoted(data)}"
    assert parse_line(quoted) == Line(event_type, workflow_id, phase, data)


@LIGHT
@given(objects, st.sampled_from([None, 0, 2]))
def test_relaxed_parser_reads_json_like_orjson(data: dict[str, Any], indent: int | None) -> None:
    option = orjson.OPT_INDENT_2 if indent else 0
    text = orjson.dumps(data, option=option).decode()
    assert loads(text) == orjson.loads(text) == data


@LIGHT
@given(
    st.text(alphabet="{}[]\"':,\\/u0123456789abefnrtlsE+-. \n\t\x00é\ud800", max_size=40)
    | objects.map(single_quoted).map(lambda t: t[: len(t) // 2])
)
def test_json_like_data(text: str) -> None:
    value = attempt(parse_data, text)
    if isinstance(value, ProtocolError):
        check_error(value, text)
    else:
        assert isinstance(value, dict)

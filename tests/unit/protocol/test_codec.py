"""The line codec: good lines, normalisation, and every error naming the right part."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from baton.errors import ProtocolError
from baton.protocol.codec import LINE_PATTERN, Line, format_line, parse_data, parse_line
from baton.protocol.limits import MAX_DEPTH, MAX_ITEMS, MAX_STRING_CHARS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A:wf:ph:{}", Line("A", "wf", "ph", {})),
        (
            'PHASE_COMPLETED:wf_001:implementation:{"duration":"45m"}',
            Line("PHASE_COMPLETED", "wf_001", "implementation", {"duration": "45m"}),
        ),
        ('A:wf:ph:{"url":"http://x:80/a:b","t":"12:30"}',
         Line("A", "wf", "ph", {"url": "http://x:80/a:b", "t": "12:30"})),
        ("A:wf:ph:{'a':'b:c:d'}", Line("A", "wf", "ph", {"a": "b:c:d"})),
        ('"A:wf:ph:{\'n\':1}"', Line("A", "wf", "ph", {"n": 1})),
        ('A:wf:ph:{"n":1}\n', Line("A", "wf", "ph", {"n": 1})),
        ('A:wf:ph:{"n":1}\r\n', Line("A", "wf", "ph", {"n": 1})),
        ('"A:wf:ph:{"n":1}"\n', Line("A", "wf", "ph", {"n": 1})),
        ('A:wf:ph: { "n" : [1, 2] } ', Line("A", "wf", "ph", {"n": [1, 2]})),
        ("A:wf.v1-2_x:ph.1:{}", Line("A", "wf.v1-2_x", "ph.1", {})),
        ("SYSTEM_THRESHOLD:global:global:{}", Line("SYSTEM_THRESHOLD", "global", "global", {})),
        (b'A:wf:ph:{"s":"\xc3\xa9\xe2\x82\xac"}', Line("A", "wf", "ph", {"s": "é€"})),
        (bytearray(b"A:wf:ph:{}"), Line("A", "wf", "ph", {})),
        ("A:wf:ph:{'s':'it\\'s \"q\"'}", Line("A", "wf", "ph", {"s": "it's \"q\""})),
        ("A:" + "w" * 128 + ":" + "p" * 128 + ":{}", Line("A", "w" * 128, "p" * 128, {})),
        ("A" * 128 + ":wf:ph:{}", Line("A" * 128, "wf", "ph", {})),
    ],
)  # fmt: skip
def test_good_lines(raw: str | bytes, expected: Line) -> None:
    assert parse_line(raw) == expected


def test_seed_single_quoted_line_is_normalised_to_json() -> None:
    raw = (
        '"PHASE_COMPLETED:wf_001:implementation:'
        "{'duration':'45m','tasks_completed':15,'success_rate':94.2}\""
    )
    line = parse_line(raw)
    assert line.data == {"duration": "45m", "tasks_completed": 15, "success_rate": 94.2}
    text = format_line(line.event_type, line.workflow_id, line.phase, line.data)
    assert text == (
        "PHASE_COMPLETED:wf_001:implementation:"
        '{"duration":"45m","tasks_completed":15,"success_rate":94.2}'
    )
    assert parse_line(text) == line


def _error(raw: str | bytes, **kwargs: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_line(raw, **kwargs)
    return info.value


DEEP = '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)
DEEP_PART = "data" + ".a" * MAX_DEPTH


@pytest.mark.parametrize(
    ("raw", "part", "position", "fragment"),
    [
        ("", "line", 0, "empty line"),
        ("\n", "line", 0, "empty line"),
        ('"', "line", 1, "does not end"),
        ('"A:wf:ph:{}', "line", 11, "does not end"),
        ("hello", "event_type", 0, "upper-case"),
        ("this is not a baton line", "event_type", 0, "upper-case"),
        ("PHASE_COMPLETED", "workflow_id", 15, "expected EVENT_TYPE:workflow_id:phase:data"),
        ("PHASE_COMPLETED:", "workflow_id", 16, "empty"),
        ("PHASE_COMPLETED:wf", "phase", 18, "missing"),
        ("PHASE_COMPLETED:wf:impl", "data", 23, "missing"),
        ("PHASE_COMPLETED:wf:impl:", "data", 24, "empty"),
        ("phase_completed:wf:impl:{}", "event_type", 0, "upper-case"),
        ("PHASE-COMPLETED:wf:impl:{}", "event_type", 5, "'-'"),
        ("1PHASE:wf:impl:{}", "event_type", 0, "upper-case"),
        (":wf:impl:{}", "event_type", 0, "empty"),
        ("A" * 129 + ":wf:ph:{}", "event_type", 128, "over the limit"),
        (" A:wf:ph:{}", "event_type", 0, "upper-case"),
        ("A::impl:{}", "workflow_id", 2, "empty"),
        ("A:wf/1:impl:{}", "workflow_id", 4, "'/'"),
        ("A:wf 1:impl:{}", "workflow_id", 4, "' '"),
        ("A:" + "w" * 129 + ":p:{}", "workflow_id", 130, "over the limit"),
        ("A:wf::{}", "phase", 5, "empty"),
        ("A:wf:ph ase:{}", "phase", 7, "' '"),
        ("A:wf:é:{}", "phase", 5, "'é'"),
        ("A:wf:" + "p" * 129 + ":{}", "phase", 133, "over the limit"),
        ("A:wf:ph:[1]", "data", 8, "found an array"),
        ("A:wf:ph: 1", "data", 9, "found a number"),
        ('A:wf:ph:"x"', "data", 8, "found a string"),
        ("A:wf:ph:null", "data", 8, "found null"),
        ("A:wf:ph:x", "data", 8, "JSON object"),
        ("A:wf:ph:{", "data", 9, "expected a quoted key"),
        ('A:wf:ph:{"a":1,}', "data", 15, "trailing comma"),
        ('A:wf:ph:{"a":[1,]}', "data", 16, "trailing comma"),
        ('A:wf:ph:{"a" 1}', "data", 13, "expected ':'"),
        ('A:wf:ph:{"a":1 "b":2}', "data", 15, "expected ',' or '}'"),
        ('A:wf:ph:{"a":[1 2]}', "data", 16, "expected ',' or ']'"),
        ("A:wf:ph:{'a':'x}", "data", 13, "unterminated string"),
        ("A:wf:ph:{'a':True}", "data", 13, "write true"),
        ("A:wf:ph:{'a':None}", "data", 13, "write null"),
        ("A:wf:ph:{a:1}", "data", 9, "quoted key"),
        ("A:wf:ph:{'a':'\\x41'}", "data", 14, "invalid escape"),
        ("A:wf:ph:{'a':'\\u12'}", "data", 14, "4 hex digits"),
        ("A:wf:ph:{'a':'\\ud800'}", "data", 14, "surrogate"),
        ("A:wf:ph:{'a':'\\udc00'}", "data", 14, "surrogate"),
        ("A:wf:ph:{'a':'\tb'}", "data", 14, "control character"),
        ('A:wf:ph:{"a":01}', "data", 13, "leading zeros"),
        ('A:wf:ph:{"a":-}', "data", 13, "invalid number"),
        ('A:wf:ph:{"a":1e999}', "data", 13, "out of range"),
        ('A:wf:ph:{"a":NaN}', "data", 13, "expected a value"),
        ("A:wf:ph:{'a':1} x", "data", 16, "unexpected content"),
        ("A:wf:ph:{'a':\"\\ud800\"}", "data", 14, "surrogate"),
        ("A:wf:ph:{'a':'\ud800'}", "data", 14, "surrogate"),
        ('"A:wf:ph:{"a" 1}"', "data", 14, "expected ':'"),
        (b"\xffA:wf:ph:{}", "event_type", 0, "not UTF-8"),
        (b"A:w\xff:ph:{}", "workflow_id", 3, "not UTF-8"),
        (b"A:wf:\xc3:{}", "phase", 5, "not UTF-8"),
        (b'A:wf:ph:{"\xc3\xa9":"\xe9"}', "data", 14, "not UTF-8"),
        ("A:wf:ph:" + DEEP, "data" + ".a" * MAX_DEPTH, None, "deeper than"),
    ],
)  # fmt: skip
def test_errors_name_the_part(
    raw: str | bytes, part: str, position: int | None, fragment: str
) -> None:
    error = _error(raw)
    assert error.part == part
    assert error.position == position
    assert fragment in error.message
    assert str(error).startswith(part)


def test_error_text_reads_part_position_and_reason() -> None:
    error = _error('A:wf:ph:{"a":1 "b":2}')
    assert str(error) == "data at character 15: expected ',' or '}', found '\"'"
    assert error.to_dict()["part"] == "data"


@pytest.mark.parametrize("quote", ['"', "'"])
def test_depth_limit_same_part_on_both_paths(quote: str) -> None:
    deep = DEEP.replace('"', quote)
    assert _error("A:wf:ph:" + deep).part == DEEP_PART
    ok = '{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    assert parse_line("A:wf:ph:" + ok.replace('"', quote)).data["a"]["a"]


@pytest.mark.parametrize("quote", ['"', "'"])
def test_item_and_string_limits(quote: str) -> None:
    many = "{'a':[" + ",".join(["0"] * (MAX_ITEMS + 1)) + "]}"
    assert _error("A:wf:ph:" + many.replace("'", quote)).part == "data.a"
    long = "{'s':'" + "x" * (MAX_STRING_CHARS + 1) + "'}"
    error = _error("A:wf:ph:" + long.replace("'", quote))
    assert (error.part, "over the limit") == ("data.s", "over the limit")
    key = "{'" + "k" * (MAX_STRING_CHARS + 1) + "':1}"
    assert _error("A:wf:ph:" + key.replace("'", quote)).part == "data"
    fine = "{'a':[" + ",".join(["0"] * MAX_ITEMS) + "]}"
    assert len(parse_line("A:wf:ph:" + fine.replace("'", quote)).data["a"]) == MAX_ITEMS


def test_size_limit_counts_utf8_bytes() -> None:
    assert _error(b"A:wf:ph:{}" + b" " * 100, max_bytes=64).part == "line"
    assert _error("A:wf:ph:{}" + " " * 100, max_bytes=64).part == "line"
    text = "A:wf:ph:{'s':'" + "é" * 30 + "'}"
    assert len(text) < 64 < len(text.encode())
    assert "bytes, over 64" in _error(text, max_bytes=64).message
    assert parse_line(text, max_bytes=128).data == {"s": "é" * 30}


def test_parse_data_positions_are_relative_to_the_data() -> None:
    assert parse_data("{'a': [1, 'x']}") == {"a": [1, "x"]}
    with pytest.raises(ProtocolError) as info:
        parse_data('{"a" 1}')
    assert (info.value.part, info.value.position) == ("data", 5)


def test_format_line_writes_compact_json() -> None:
    data = {"a": [1, 2.5, None, True], "b": {"c": "d:e"}, "é": "€"}
    text = format_line("A_B", "wf.1", "ph-2", data)
    assert text == 'A_B:wf.1:ph-2:{"a":[1,2.5,null,true],"b":{"c":"d:e"},"é":"€"}'
    assert "\n" not in format_line("A", "w", "p", {"s": "x\ny"})
    assert parse_line(text) == Line("A_B", "wf.1", "ph-2", data)


@pytest.mark.parametrize(
    ("fields", "part"),
    [
        (("a", "wf", "ph"), "event_type"),
        (("A:B", "wf", "ph"), "event_type"),
        (("A", "w:f", "ph"), "workflow_id"),
        (("A", "", "ph"), "workflow_id"),
        (("A", "wf", "p h"), "phase"),
        (("A", "wf", "p" * 129), "phase"),
    ],
)
def test_format_line_refuses_bad_fields(fields: tuple[str, str, str], part: str) -> None:
    with pytest.raises(ProtocolError) as info:
        format_line(*fields, {})
    assert info.value.part == part


@pytest.mark.parametrize(
    "data",
    [[1], {"a": object()}, {1: "x"}, {"a": 2**64}, {"a": "\ud800"}],
    ids=["list", "object", "int-key", "big-int", "surrogate"],
)
def test_format_line_refuses_bad_data(data: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        format_line("A", "w", "p", data)
    assert info.value.part == "data"


def test_format_line_enforces_the_depth_limit() -> None:
    data: dict[str, Any] = {}
    inner = data
    for _ in range(MAX_DEPTH):
        inner["a"] = {}
        inner = inner["a"]
    with pytest.raises(ProtocolError) as info:
        format_line("A", "w", "p", data)
    assert info.value.part == DEEP_PART


def test_line_pattern_matches_formatted_lines() -> None:
    text = format_line("PHASE_COMPLETED", "wf_001", "impl", {"x": "a:b"})
    assert re.match(LINE_PATTERN, text)
    assert not re.match(LINE_PATTERN, "a:wf:ph:{}")
    assert orjson.loads(text.split(":", 3)[3]) == {"x": "a:b"}

"""The relaxed JSON parser: a superset of JSON with single-quoted strings, nothing evaluated."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from baton.errors import ProtocolError
from baton.protocol.relaxed_json import loads

JSON_SAMPLES = [
    "{}",
    ' { "a" : 1 , "b" : [ ] , "c" : { } } ',
    '{"n":[0,-0,1,-1,1.5,-2.5e3,1E+2,3e-2,18446744073709551615,-9223372036854775808]}',
    '{"big":18446744073709551616,"neg":-9223372036854775809}',
    '{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00"}',
    '{"raw":"é€😀","nul":"\\u0000"}',
    '{"a":1,"a":2}',
    '{"t":true,"f":false,"z":null,"l":[true,[false,[null]]]}',
    '{\n\t"a":\r\n1}',
]


@pytest.mark.parametrize("text", JSON_SAMPLES)
def test_valid_json_reads_like_orjson(text: str) -> None:
    assert loads(text) == orjson.loads(text)
    assert [type(v) for v in loads(text).values()] == [type(v) for v in orjson.loads(text).values()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{'a':'b'}", {"a": "b"}),
        ("{'it\\'s':'\"quoted\"'}", {"it's": '"quoted"'}),
        ("{\"mixed\":'x','y':\"z\"}", {"mixed": "x", "y": "z"}),
        ("{'esc':'\\n\\t\\u00e9\\/'}", {"esc": "\n\té/"}),
        ('{"sq":"it\\\'s"}', {"sq": "it's"}),
        ("{'pair':'\\ud83d\\ude00'}", {"pair": "😀"}),
        ("{'colon':'a:b:c'}", {"colon": "a:b:c"}),
    ],
)
def test_single_quoted_strings(text: str, expected: dict[str, Any]) -> None:
    assert loads(text) == expected


def test_nothing_is_evaluated() -> None:
    for text in ("{'a':__import__('os')}", "{'a':1+1}", "{'a':(1,2)}", "{'a':{1,2}}"):
        with pytest.raises(ProtocolError) as info:
            loads(text)
        assert info.value.part == "data"


def test_offset_shifts_positions() -> None:
    with pytest.raises(ProtocolError) as info:
        loads("{'a' 1}", offset=100)
    assert info.value.position == 105


def test_integer_types_follow_orjson() -> None:
    value = loads("{'i':9223372036854775807,'u':18446744073709551615,'f':18446744073709551616}")
    assert value == json.loads(
        '{"i":9223372036854775807,"u":18446744073709551615,"f":18446744073709551616.0}'
    )
    assert isinstance(value["u"], int)
    assert isinstance(value["f"], float)
    long = "1" * 5000
    assert loads("{'x':" + long + ".5e-4990}")["x"] == pytest.approx(float(long + ".5e-4990"))

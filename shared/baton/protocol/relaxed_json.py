"""A small, safe parser for JSON plus single-quoted strings.

The protocol writes event data Python-style, ``{'duration':'45m','tasks_completed':15}``. This
parser reads JSON (RFC 8259) with exactly one extension: a string may be delimited by ``'``
as well as ``"``. It is a hand-written recursive descent over the text; nothing is
evaluated (no ``eval``, no ``ast``), and recursion is bounded by ``MAX_DEPTH``.

Choices the protocol leaves open:

- Escapes are JSON's (quote, backslash, slash, b, f, n, r, t, and ``\\u`` with four hex
  digits) plus ``\\'``, in either quote style. Python-only escapes (``\\x41``, octal,
  ``\\N{...}``) are refused.
- Literals are JSON's ``true``, ``false``, ``null``; Python's ``True``/``False``/``None``
  are refused with a hint, as are unquoted keys and trailing commas.
- Numbers follow the JSON grammar. Like orjson (the fast path of the codec), integers
  outside the 64-bit range become floats and a number that overflows a float is refused.
- Duplicate keys: the last one wins, as in orjson.
- Lone surrogates (``\\ud800`` or a raw one in a ``str``) are refused: they cannot be
  written as UTF-8.
- The limits of :mod:`baton.protocol.limits` are checked while parsing.

Errors are :class:`~baton.errors.ProtocolError` with ``part="data"`` (or the path of the
value for a limit) and ``position`` = ``offset`` + the character index in ``text``.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from baton.errors import ProtocolError
from baton.protocol.limits import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_STRING_CHARS,
    field_path,
)

__all__ = ["loads"]

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_PLAIN = {
    '"': re.compile(r'[^"\\\x00-\x1f\ud800-\udfff]*'),
    "'": re.compile(r"[^'\\\x00-\x1f\ud800-\udfff]*"),
}
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_LITERALS = (("true", True), ("false", False), ("null", None))
_PYTHON_LITERALS = {"True": "true", "False": "false", "None": "null"}
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def loads(text: str, *, offset: int = 0) -> dict[str, Any]:
    """Parse ``text`` as a JSON object whose strings may be single-quoted.

    Args:
        text: The data field of a line.
        offset: Position of ``text`` in its line, added to error positions.

    Raises:
        ProtocolError: not such an object; says what was expected where.
    """
    return _Parser(text, offset).document()


def _describe(text: str, pos: int) -> str:
    return f"found {text[pos]!r}" if pos < len(text) else "found the end of the data"


class _Parser:
    __slots__ = ("end", "offset", "path", "text")

    def __init__(self, text: str, offset: int) -> None:
        self.text = text
        self.end = len(text)
        self.offset = offset
        self.path: list[str | int] = []

    def fail(self, message: str, pos: int, *, part: str = "data") -> NoReturn:
        raise ProtocolError(message, part=part, position=self.offset + pos)

    def ws(self, pos: int) -> int:
        match = _WS.match(self.text, pos)
        return match.end() if match else pos

    def document(self) -> dict[str, Any]:
        pos = self.ws(0)
        if pos >= self.end:
            self.fail("is empty; expected a JSON object", pos)
        if self.text[pos] != "{":
            self.fail(
                f"expected a JSON object starting with '{{', {_describe(self.text, pos)}", pos
            )
        value, pos = self.object(pos, 1)
        pos = self.ws(pos)
        if pos < self.end:
            self.fail(f"unexpected content after the object, {_describe(self.text, pos)}", pos)
        return value

    def value(self, pos: int, depth: int) -> tuple[Any, int]:
        text = self.text
        char = text[pos] if pos < self.end else ""
        if char == "{":
            return self.object(pos, depth + 1)
        if char == "[":
            return self.array(pos, depth + 1)
        if char in ('"', "'"):
            return self.string(pos, MAX_STRING_CHARS, "string")
        if char == "-" or "0" <= char <= "9":
            return self.number(pos)
        for word, literal in _LITERALS:
            if text.startswith(word, pos):
                return literal, pos + len(word)
        for word, hint in _PYTHON_LITERALS.items():
            if text.startswith(word, pos):
                self.fail(f"{word} is Python, not JSON; write {hint}", pos)
        self.fail(f"expected a value, {_describe(text, pos)}", pos)

    def object(self, pos: int, depth: int) -> tuple[dict[str, Any], int]:
        if depth > MAX_DEPTH:
            self.fail(f"nested deeper than {MAX_DEPTH} levels", pos, part=field_path(self.path))
        text = self.text
        result: dict[str, Any] = {}
        pos = self.ws(pos + 1)
        if text.startswith("}", pos):
            return result, pos + 1
        while True:
            if pos >= self.end or text[pos] not in ('"', "'"):
                self.fail(f"expected a quoted key, {_describe(text, pos)}", pos)
            key, pos = self.string(pos, MAX_STRING_CHARS, "key")
            pos = self.ws(pos)
            if not text.startswith(":", pos):
                self.fail(f"expected ':' after the key, {_describe(text, pos)}", pos)
            self.path.append(key)
            result[key], pos = self.value(self.ws(pos + 1), depth)
            self.path.pop()
            if len(result) > MAX_ITEMS:
                self.fail(f"more than {MAX_ITEMS} items", pos, part=field_path(self.path))
            pos = self.ws(pos)
            if text.startswith(",", pos):
                pos = self.ws(pos + 1)
                if text.startswith("}", pos):
                    self.fail("trailing comma before '}' is not allowed", pos)
            elif text.startswith("}", pos):
                return result, pos + 1
            else:
                self.fail(f"expected ',' or '}}', {_describe(text, pos)}", pos)

    def array(self, pos: int, depth: int) -> tuple[list[Any], int]:
        if depth > MAX_DEPTH:
            self.fail(f"nested deeper than {MAX_DEPTH} levels", pos, part=field_path(self.path))
        text = self.text
        result: list[Any] = []
        pos = self.ws(pos + 1)
        if text.startswith("]", pos):
            return result, pos + 1
        while True:
            self.path.append(len(result))
            item, pos = self.value(pos, depth)
            self.path.pop()
            result.append(item)
            if len(result) > MAX_ITEMS:
                self.fail(f"more than {MAX_ITEMS} items", pos, part=field_path(self.path))
            pos = self.ws(pos)
            if text.startswith(",", pos):
                pos = self.ws(pos + 1)
                if text.startswith("]", pos):
                    self.fail("trailing comma before ']' is not allowed", pos)
            elif text.startswith("]", pos):
                return result, pos + 1
            else:
                self.fail(f"expected ',' or ']', {_describe(text, pos)}", pos)

    def string(self, pos: int, limit: int, what: str) -> tuple[str, int]:
        text = self.text
        start = pos
        quote = text[pos]
        plain = _PLAIN[quote]
        chunks: list[str] = []
        pos += 1
        while True:
            match = plain.match(text, pos)
            if match is not None and match.end() > pos:
                chunks.append(match.group())
                pos = match.end()
            if pos >= self.end:
                self.fail(f"unterminated string (opened with {quote})", start)
            char = text[pos]
            if char == quote:
                pos += 1
                break
            if char == "\\":
                decoded, pos = self.escape(pos)
                chunks.append(decoded)
            elif char < " ":
                self.fail(f"raw control character U+{ord(char):04X} in a string; escape it", pos)
            else:
                self.fail(f"lone surrogate U+{ord(char):04X} cannot be encoded as UTF-8", pos)
        value = "".join(chunks)
        if len(value) > limit:
            part = field_path(self.path)
            self.fail(
                f"{what} of {len(value)} characters, over the limit of {limit}", start, part=part
            )
        return value, pos

    def escape(self, pos: int) -> tuple[str, int]:
        text = self.text
        code = text[pos + 1 : pos + 2]
        simple = _ESCAPES.get(code)
        if simple is not None:
            return simple, pos + 2
        if code != "u":
            shown = repr(code) if code else "the end of the data"
            self.fail(f"invalid escape: backslash followed by {shown}", pos)
        high = self.hex4(pos)
        if 0xDC00 <= high <= 0xDFFF:
            self.fail(f"lone low surrogate \\u{high:04x}", pos)
        if not 0xD800 <= high <= 0xDBFF:
            return chr(high), pos + 6
        if text.startswith("\\u", pos + 6):
            low = self.hex4(pos + 6)
            if 0xDC00 <= low <= 0xDFFF:
                return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)), pos + 12
        self.fail(f"lone high surrogate \\u{high:04x} (no low surrogate after it)", pos)

    def hex4(self, pos: int) -> int:
        if _HEX4.fullmatch(self.text, pos + 2, pos + 6) is None:
            self.fail("\\u must be followed by 4 hex digits", pos)
        return int(self.text[pos + 2 : pos + 6], 16)

    def number(self, pos: int) -> tuple[int | float, int]:
        match = _NUMBER.match(self.text, pos)
        if match is None:
            self.fail(f"invalid number, {_describe(self.text, pos + 1)}", pos)
        token = match.group()
        end = match.end()
        if end < self.end and "0" <= self.text[end] <= "9":
            self.fail("leading zeros are not allowed in numbers", pos)
        if match.group(1) is None and match.group(2) is None and len(token) <= 20:
            integer = int(token)
            if _INT_MIN <= integer <= _INT_MAX:
                return integer, end
        number = float(token)
        if number in (float("inf"), float("-inf")):
            self.fail(f"number {token[:20]!r} is out of range", pos)
        return number, end

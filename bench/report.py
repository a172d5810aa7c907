"""How a benchmark prints its result: indented JSON for scripts, aligned lines for people."""

from __future__ import annotations

import sys
from typing import Any

import orjson

__all__ = ["print_result"]


def print_result(result: dict[str, Any], *, as_json: bool) -> None:
    """Print ``result``: as JSON (``--json``), or one ``key  value`` line per entry."""
    if as_json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    width = max(map(len, result), default=0)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")

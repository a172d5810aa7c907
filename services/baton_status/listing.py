"""What a workflow list asks for: filters, sort order, page size, and the cursor of the
next page.

Pages are keyset pages: a page ends at the last row's sort key, and the cursor of the next
one carries that key, so a page costs the same however deep it is, and rows written
between two pages neither repeat nor push others off the list (a row whose key changed
since, e.g. ``updated_at``, may show on a later page again or not at all, as in any
keyset walk).

Sorts (each ends with the workflow id, so the order is total):

- ``created_at`` (default ``desc``, newest first);
- ``updated_at`` (default ``desc``, most recently changed first);
- ``priority`` (default ``asc``: critical first, then high, medium, low; oldest first within
  a priority, as their queue would serve them).

A cursor is opaque text for the caller: URL-safe base64 of the sort, the order and the
last key. It is valid for the sort and order it was made for; filters may change
between pages (the walk then goes on with the new ones).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from baton.errors import BadInputError

__all__ = [
    "DEFAULT_ORDER",
    "SORT_KEYS",
    "ListQuery",
    "Order",
    "Sort",
    "decode_cursor",
    "encode_cursor",
]

Sort = Literal["created_at", "updated_at", "priority"]
Order = Literal["asc", "desc"]

SORT_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "created_at": ("created_at", "workflow_id"),
    "updated_at": ("updated_at", "workflow_id"),
    "priority": ("priority_rank", "created_at", "workflow_id"),
}
"""Sort → the columns of its key, in order (each has an index)."""
DEFAULT_ORDER: Final[dict[str, Order]] = {
    "created_at": "desc",
    "updated_at": "desc",
    "priority": "asc",
}
_TIMES: Final = frozenset({"created_at", "updated_at"})


class ListQuery(BaseModel):
    """One list request (also the data of a ``LIST_STATUS`` request; unknown keys are
    refused).

    Attributes:
        status: Only this status (any case).
        priority: Only this priority.
        workflow_type: Only this type.
        workflow_ids: Only these workflows.
        sort: The sort (module doc).
        order: ``asc`` or ``desc``; None for the sort's default.
        limit: Most workflows on the page.
        cursor: Where the page starts (the ``next_cursor`` of the one before); None: first.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: str | None = Field(default=None, max_length=32)
    priority: str | None = Field(default=None, max_length=32)
    workflow_type: str | None = Field(default=None, max_length=128)
    workflow_ids: tuple[str, ...] | None = Field(default=None, max_length=10_000)
    sort: Sort = "created_at"
    order: Order | None = None
    limit: StrictInt = Field(default=200, ge=1)
    cursor: str | None = Field(default=None, max_length=1024)

    @property
    def direction(self) -> Order:
        """The order in effect."""
        return self.order or DEFAULT_ORDER[self.sort]

    def after(self) -> tuple[Any, ...] | None:
        """The key the page starts after (from the cursor), None for the first page.

        Raises:
            BadInputError: the cursor is not one of this sort and order.
        """
        return (
            None
            if self.cursor is None
            else decode_cursor(self.cursor, sort=self.sort, order=self.direction)
        )


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def encode_cursor(key: tuple[Any, ...], *, sort: Sort, order: Order) -> str:
    """The cursor of the page after the row whose sort key is ``key``."""
    raw = orjson.dumps([sort, order, *(_plain(v) for v in key)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad(cursor: str, why: str) -> BadInputError:
    return BadInputError(
        f"cursor {cursor[:80]!r} {why}; pass the next_cursor of the page before, with the "
        "same sort and order",
        field="cursor",
    )


def decode_cursor(cursor: str, *, sort: Sort, order: Order) -> tuple[Any, ...]:
    """The sort key a cursor made by :func:`encode_cursor` for ``sort`` and ``order`` holds.

    Raises:
        BadInputError: not such a cursor.
    """
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise _bad(cursor, "is not a cursor") from None
    columns = SORT_KEYS[sort]
    if not isinstance(raw, list) or len(raw) != 2 + len(columns):
        raise _bad(cursor, "is not a cursor")
    if raw[0] != sort or raw[1] != order:
        raise _bad(cursor, f"was made for sort={raw[0]} order={raw[1]}, not {sort} {order}")
    key: list[Any] = []
    for column, value in zip(columns, raw[2:], strict=True):
        try:
            if column in _TIMES:
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    raise ValueError(value)
                key.append(moment)
            elif column == "priority_rank":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(value)
                key.append(value)
            elif isinstance(value, str):
                key.append(value)
            else:
                raise ValueError(value)
        except (TypeError, ValueError):
            raise _bad(cursor, f"has a bad {column}") from None
    return tuple(key)

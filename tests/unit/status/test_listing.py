"""List queries and their cursors; the bounded, versioned cache of rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from baton.errors import BadInputError
from baton_status.cache import VersionedCache
from baton_status.listing import (
    DEFAULT_ORDER,
    SORT_KEYS,
    ListQuery,
    Sort,
    decode_cursor,
    encode_cursor,
)

AT = datetime(2025, 1, 15, 12, 0, 0, 123456, tzinfo=UTC)


def test_every_sort_has_key_columns_and_a_default_order() -> None:
    assert set(get_args(Sort)) == set(SORT_KEYS) == set(DEFAULT_ORDER)
    assert all(keys[-1] == "workflow_id" for keys in SORT_KEYS.values())


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("created_at", (AT, "wf_1")),
        ("updated_at", (AT, "wf:with spaces/é")),
        ("priority", (2, AT, "wf_3")),
    ],
)
def test_a_cursor_gives_back_the_key_it_was_made_from(sort: Sort, key: tuple[Any, ...]) -> None:
    cursor = encode_cursor(key, sort=sort, order="asc")
    assert cursor.isascii()  # URL-safe as it is
    assert "=" not in cursor
    assert decode_cursor(cursor, sort=sort, order="asc") == key
    assert ListQuery(sort=sort, order="asc", cursor=cursor).after() == key


def test_the_default_order_is_the_sorts_own() -> None:
    assert ListQuery().direction == "desc"
    assert ListQuery(sort="priority").direction == "asc"
    assert ListQuery(sort="priority", order="desc").direction == "desc"
    assert ListQuery().after() is None


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        encode_cursor((AT, "wf"), sort="created_at", order="desc")[:-3],
        encode_cursor((AT, "wf"), sort="updated_at", order="desc"),  # another sort
        encode_cursor((AT, "wf"), sort="created_at", order="asc"),  # another order
        encode_cursor(("yesterday", "wf"), sort="created_at", order="desc"),
        encode_cursor((AT.replace(tzinfo=None), "wf"), sort="created_at", order="desc"),
        encode_cursor((AT, 7), sort="created_at", order="desc"),
        encode_cursor((AT,), sort="created_at", order="desc"),
    ],
)
def test_a_wrong_cursor_is_bad_input_naming_the_cursor(cursor: str) -> None:
    with pytest.raises(BadInputError) as caught:
        decode_cursor(cursor, sort="created_at", order="desc")
    assert caught.value.field == "cursor"
    assert not caught.value.retriable


def test_a_priority_cursor_needs_a_whole_rank() -> None:
    cursor = encode_cursor((True, AT, "wf"), sort="priority", order="asc")
    with pytest.raises(BadInputError):
        decode_cursor(cursor, sort="priority", order="asc")


def test_a_list_request_refuses_unknown_keys_and_wrong_values() -> None:
    assert ListQuery.model_validate({"limit": 5, "workflow_ids": ["a"]}).workflow_ids == ("a",)
    for data in ({"limit": 0}, {"limit": True}, {"limit": "5"}, {"sort": "name"}, {"x": 1}):
        with pytest.raises(ValidationError):
            ListQuery.model_validate(data)


def test_the_cache_keeps_the_most_recently_used_within_its_size() -> None:
    cache: VersionedCache[str] = VersionedCache(size=2)
    cache.put("a", 1, "a1")
    cache.put("b", 2, "b2")
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", 3, "c3")
    assert "b" not in cache
    assert sorted(k for k in ("a", "b", "c") if k in cache) == ["a", "c"]
    assert len(cache) == 2
    assert VersionedCache[str](size=0).version("a") is None


def test_a_copy_serves_only_its_own_version() -> None:
    cache: VersionedCache[str] = VersionedCache(size=4)
    cache.put("a", 5, "a5")
    assert cache.get("a", version=5) is not None
    assert cache.get("a", version=6) is None
    cache.put("a", 4, "a4")  # older than the copy held: ignored
    assert cache.version("a") == 5
    cache.put("a", 5, "partial", full=False)  # a partial copy never replaces a full one
    held = cache.get("a", full=True)
    assert held is not None
    assert held.value == "a5"
    cache.put("a", 6, "partial 6", full=False)
    assert cache.version("a", full=True) is None
    assert cache.version("a") == 6
    assert cache.take("a", version=6) is None  # a writer never builds on a partial copy


def test_a_writer_takes_the_copy_it_changes() -> None:
    cache: VersionedCache[list[int]] = VersionedCache(size=4)
    cache.put("a", 1, [1])
    assert cache.take("a", version=2) is None
    taken = cache.take("a", version=1)
    assert taken == [1]
    assert "a" not in cache  # readers read the row until the writer puts the result back
    cache.put("a", 2, [1, 2])
    assert cache.version("a") == 2
    cache.discard("a")
    assert "a" not in cache

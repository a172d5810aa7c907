"""Binary COPY rows: the format PostgreSQL reads, and a row iterator that fails midway."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from baton_recovery.checkpoints.bulk import MIN_CHUNK_ROWS, RowStream, chunk_sizes, encode_row
from baton_recovery.errors import InvalidStateError


def test_a_row_is_a_field_count_then_length_prefixed_fields() -> None:
    row = encode_row(("ckpt_é", None, 7, b"\x00\xff"))
    assert row == (
        struct.pack(">h", 4)
        + struct.pack(">i", 7)
        + "ckpt_é".encode()
        + b"\xff\xff\xff\xff"
        + struct.pack(">ii", 4, 7)
        + struct.pack(">i", 2)
        + b"\x00\xff"
    )


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1])
def test_an_integer_beyond_int4_is_refused(value: int) -> None:
    with pytest.raises(InvalidStateError, match="int4"):
        encode_row(("a", value))


def chunks(stream: RowStream) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [chunk async for chunk in stream]

    return asyncio.run(collect())


def test_the_stream_is_header_rows_in_chunks_and_trailer() -> None:
    rows = [(f"c{i}", i) for i in range(MIN_CHUNK_ROWS * 2 + 3)]
    stream = RowStream(rows)
    out = chunks(stream)
    assert len(out) == 3
    assert b"".join(out) == (
        b"PGCOPY\n\xff\r\n\x00" + bytes(8) + b"".join(encode_row(r) for r in rows) + b"\xff\xff"
    )
    assert stream.sent == rows
    assert not stream.failed


def test_a_stream_of_known_length_sends_half_of_what_is_left_each_time() -> None:
    rows = [(f"c{i}", i) for i in range(100)]
    stream = RowStream(rows, count=len(rows))
    out = chunks(stream)
    assert [chunk.count(b"\x00\x02\x00\x00") for chunk in out] == [32, 32, 18, 9, 4, 4, 1]
    assert b"".join(out) == (
        b"PGCOPY\n\xff\r\n\x00" + bytes(8) + b"".join(encode_row(r) for r in rows) + b"\xff\xff"
    )


@pytest.mark.parametrize("count", [1, 3, 16, 17, 100, 1000])
def test_chunks_of_a_known_length_are_few_and_end_small(count: int) -> None:
    sizes = chunk_sizes(count)
    taken: list[int] = []
    while sum(taken) < count:
        taken.append(next(sizes))
    assert all(size <= 32 for size in taken)
    assert taken[-1] <= MIN_CHUNK_ROWS
    assert len(taken) <= 2 + count // 32 + 6


def test_a_failing_iterator_ends_the_stream_cleanly_and_is_raised_later() -> None:
    def rows() -> Iterator[tuple[Any, ...]]:
        yield ("c0", 0)
        yield ("c1", 1)
        raise InvalidStateError("bad state", path=["x"])

    stream = RowStream(rows())
    out = chunks(stream)
    assert out[-1].endswith(b"\xff\xff")
    assert stream.failed
    with pytest.raises(InvalidStateError, match="bad state"):
        stream.check()
    with pytest.raises(InvalidStateError, match="bad state"):
        stream.all_rows()


def test_all_rows_takes_the_rest_of_the_iterator() -> None:
    stream = RowStream(iter([("c0", 0), ("c1", 1)]))
    assert stream.all_rows() == [("c0", 0), ("c1", 1)]

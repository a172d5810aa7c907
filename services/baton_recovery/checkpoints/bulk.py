"""Streaming rows into a table with binary ``COPY`` while they are still being prepared.

The rows come from an iterator that does the costly work (deltas, hashes, compression) as it
is consumed. They are encoded in PostgreSQL's binary ``COPY`` format and sent some at a
time, so the server inserts the first rows while the later ones are being prepared (it runs
in its own process), and ``COPY`` costs the server less per row than an ``INSERT``.

Each message costs a system call, dear on a virtual machine (about as much as preparing a
row), while the server waits only for the last one once the rows are all prepared: so a
stream of known length is sent in chunks of half what is left, between
:data:`MIN_CHUNK_ROWS` and :data:`MAX_CHUNK_ROWS` rows (100 rows: 32, 32, 18, 9, 4, 4, 1).

An error raised by the iterator ends the stream cleanly (the rows sent are rolled back by the
caller's savepoint) and is raised again by :meth:`RowStream.check`, rather than aborting the
``COPY`` mid-stream: asyncpg then cancels the query, and the cancellation may reach the
statement after it.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Final

from asyncpg import UniqueViolationError

from baton_recovery.errors import InvalidStateError

__all__ = ["MAX_CHUNK_ROWS", "MIN_CHUNK_ROWS", "RowStream", "chunk_sizes", "copy_in", "encode_row"]

MIN_CHUNK_ROWS: Final = 4
"""Fewest rows per message (but the last), and the size of every chunk of a stream whose
length is not known."""
MAX_CHUNK_ROWS: Final = 32
"""Most rows per message."""

_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, no flags, no extension
_TRAILER: Final = b"\xff\xff"
_NULL: Final = b"\xff\xff\xff\xff"
_INT4: Final = struct.Struct(">ii")  # length 4, then the value
_LENGTH: Final = struct.Struct(">i")
_FIELDS: Final = struct.Struct(">h")


def encode_row(values: tuple[Any, ...]) -> bytes:
    """One row in binary ``COPY`` format: ``str`` as text, ``int`` as int4, ``bytes`` as
    bytea, None as NULL.

    Raises:
        InvalidStateError: an integer does not fit int4 (as an ``INSERT`` would refuse it).
    """
    parts = [_FIELDS.pack(len(values))]
    for value in values:
        if value is None:
            parts.append(_NULL)
        elif isinstance(value, str):
            data = value.encode()
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        elif isinstance(value, bytes):
            parts.append(_LENGTH.pack(len(value)))
            parts.append(value)
        else:
            try:
                parts.append(_INT4.pack(4, value))
            except struct.error:
                raise InvalidStateError(f"{value!r} does not fit int4", path=[]) from None
    return b"".join(parts)


def chunk_sizes(count: int | None) -> Iterator[int]:
    """Rows per message for a stream of ``count`` rows (None: not known), forever after its
    end (module doc)."""
    left = count
    while True:
        if left is None:
            yield MIN_CHUNK_ROWS
            continue
        size = min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, left // 2))
        left = max(0, left - size)
        yield size


class RowStream:
    """The binary ``COPY`` data of ``rows``, as an async iterable of chunks (module doc).

    Args:
        rows: The rows, prepared as they are consumed.
        count: How many there are, when known (fewer messages).

    Attributes:
        sent: The rows consumed so far, in order.
    """

    def __init__(self, rows: Iterable[tuple[Any, ...]], *, count: int | None = None) -> None:
        self._rows: Iterator[tuple[Any, ...]] = iter(rows)
        self._sizes = chunk_sizes(count)
        self._failure: BaseException | None = None
        self.sent: list[tuple[Any, ...]] = []

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        chunk = [_HEADER]
        size = next(self._sizes)
        try:
            for row in self._rows:
                self.sent.append(row)
                chunk.append(encode_row(row))
                size -= 1
                if size == 0:
                    yield b"".join(chunk)
                    chunk, size = [], next(self._sizes)
        except Exception as exc:  # raised again by check(), after the COPY ends cleanly
            self._failure = exc
        chunk.append(_TRAILER)
        yield b"".join(chunk)

    @property
    def failed(self) -> bool:
        """Whether the row iterator raised."""
        return self._failure is not None

    def check(self) -> None:
        """Raise what the row iterator raised, if anything."""
        if self._failure is not None:
            raise self._failure

    def all_rows(self) -> list[tuple[Any, ...]]:
        """Every row: those sent, then the rest of the iterator.

        Raises:
            Exception: what the row iterator raised.
        """
        self.check()
        self.sent.extend(self._rows)
        return self.sent


async def copy_in(conn: Any, *, table: str, columns: list[str], stream: RowStream) -> bool:
    """Stream ``stream`` into ``table`` in a savepoint; False, with nothing of it kept, when a
    row's key is there already (so the caller can insert them skipping those).

    Raises:
        Exception: what the row iterator raised (nothing of it kept).
    """
    # Never released: the transaction's end does that, one round trip fewer. On an error
    # the caller rolls the transaction back, savepoint and all.
    await conn.execute("savepoint bulk_copy")
    try:
        await conn.copy_to_table(table, source=stream, columns=columns, format="binary")
    except UniqueViolationError:
        await conn.execute("rollback to savepoint bulk_copy")
        stream.check()
        return False
    if stream.failed:
        await conn.execute("rollback to savepoint bulk_copy")
        stream.check()
    return True

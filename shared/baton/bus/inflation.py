"""Bounded decompression of fetched record batches: a compression bomb is refused, not inflated.

Kafka compresses whole record batches, and the Kafka client inflates a batch completely
before a single record of it is seen — so Baton's own line limit (``BATON_MAX_LINE_BYTES``)
came too late: 0.5 MB of gzip can hold 500 MB of zeros. The broker's
``message.max.bytes`` bounds only the compressed size.

Baton's consumers therefore read fetched batches through :class:`BoundedRecords`, which
takes the client's place for record sets (:func:`install`): a compressed batch is inflated
here, by Baton, into at most :func:`inflated_batch_limit` bytes — gzip through
``zlib`` with an output bound, LZ4 and ZSTD into a buffer of that size, Snappy after
reading the inflated length its blocks declare — and the batch the client then parses is
the inflated one. A batch that would inflate past the bound is never inflated: it becomes
one stand-in record at the batch's last offset whose value is a :class:`RefusedBatch`,
which the consumer dead-letters with the reason (``part`` ``batch``) instead of decoding.
A stand-in cannot come from the wire: it is a Python object the client never makes.

What a fetch may hold besides: ``max_partition_fetch_bytes`` and ``fetch_max_bytes``
(compressed, :func:`fetch_limits`), and per partition's response, batches inflated up to
the same bound in total; the batches past it are left for the next fetch. Legacy
(pre-0.11) compressed batches are refused outright.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any, Final

import cramjam
from aiokafka.consumer import fetcher as _fetcher
from aiokafka.record.default_records import DefaultRecordBatch

__all__ = [
    "BoundedRecords",
    "RefusedBatch",
    "fetch_limits",
    "inflate",
    "inflated_batch_limit",
    "install",
]

_HEADER: Final = struct.Struct(">qiibIhiqqqhii")  # a v2 record batch's header (61 bytes)
_ATTRIBUTES_AT: Final = 21
_LENGTH_AT: Final = 8
_LOG_OVERHEAD: Final = 12  # offset and length, before what ``length`` counts
_CODEC_MASK: Final = 0x07
_GZIP, _SNAPPY, _LZ4, _ZSTD = 1, 2, 3, 4
_CODECS: Final = {_GZIP: "gzip", _SNAPPY: "snappy", _LZ4: "lz4", _ZSTD: "zstd"}
_XERIAL: Final = b"\x82SNAPPY\x00"
_FIRST_GUESS: Final = 4 * 1024


class InflationRefused(Exception):
    """A batch would inflate past the bound (or is not valid compressed data)."""


class RefusedBatch(bytes):
    """The value of the stand-in record for a refused batch (empty bytes).

    Attributes:
        reason: Why, for the dead letter: codec, sizes and offsets.
    """

    reason: str

    def __new__(cls, reason: str) -> RefusedBatch:
        value = super().__new__(cls, b"")
        value.reason = reason
        return value


def inflated_batch_limit(max_line_bytes: int) -> int:
    """Most bytes one fetched batch may inflate to: four lines (a batch of the bus's
    producer is 256 KiB, or one record of up to two lines)."""
    return max(4 * max_line_bytes, 1_048_576)


def fetch_limits(max_line_bytes: int) -> dict[str, int]:
    """The consumer's fetch sizes (compressed bytes): two lines a partition, four
    partitions' worth a fetch."""
    per_partition = max(2 * max_line_bytes, 1_048_576)
    return {"max_partition_fetch_bytes": per_partition, "fetch_max_bytes": 4 * per_partition}


def inflate(codec: int, data: memoryview, *, limit: int) -> bytes:
    """``data`` decompressed with Kafka's ``codec``, never more than ``limit`` bytes.

    Raises:
        InflationRefused: it would inflate past ``limit``, or is not valid ``codec`` data.
    """
    try:
        if codec == _GZIP:
            return _gunzip(data, limit)
        if codec == _SNAPPY:
            return _unsnappy(data, limit)
        if codec in (_LZ4, _ZSTD):
            module = cramjam.lz4 if codec == _LZ4 else cramjam.zstd
            # Small buffers first (most batches fit), the whole bound only if not.
            guesses = (min(limit, max(_FIRST_GUESS, r * len(data))) for r in (8, 64))
            for size in sorted({*guesses, limit}):
                out = bytearray(size + 1)
                try:
                    written = module.decompress_into(data, out)
                except cramjam.DecompressionError as exc:
                    if "whole buffer" not in str(exc):
                        raise InflationRefused(f"not valid {_CODECS[codec]} data") from None
                    continue
                if written <= size:
                    return bytes(memoryview(out)[:written])
            raise InflationRefused(f"inflates past {limit} bytes")
    except (zlib.error, cramjam.DecompressionError, struct.error):
        raise InflationRefused(f"not valid {_CODECS.get(codec, '?')} data") from None
    raise InflationRefused(f"unknown codec {codec}")


def _gunzip(data: memoryview, limit: int) -> bytes:
    out = bytearray()
    rest: bytes | memoryview = data
    while rest:  # a gzip stream may have several members
        inflater = zlib.decompressobj(wbits=47)
        out += inflater.decompress(rest, limit + 1 - len(out))
        if len(out) > limit or inflater.unconsumed_tail:
            raise InflationRefused(f"inflates past {limit} bytes")
        if not inflater.eof:
            raise InflationRefused("not valid gzip data (truncated)")
        rest = inflater.unused_data
    return bytes(out)


def _unsnappy(data: memoryview, limit: int) -> bytes:
    if bytes(data[:8]) == _XERIAL:  # Kafka's framing: 16 bytes, then length-prefixed blocks
        blocks, cursor = [], 16
        while cursor < len(data):
            (size,) = struct.unpack_from("!i", data, cursor)
            blocks.append(data[cursor + 4 : cursor + 4 + size])
            cursor += 4 + size
    else:
        blocks = [data]
    total = sum(cramjam.snappy.decompress_raw_len(bytes(b)) for b in blocks)
    if total > limit:
        raise InflationRefused(f"inflates past {limit} bytes (it says {total})")
    return b"".join(bytes(cramjam.snappy.decompress_raw(bytes(b))) for b in blocks)


class _Inflated:
    """A batch inflated here: the client parses it as an uncompressed one, and its CRC is
    the original's (checked over the compressed bytes, as the broker wrote them)."""

    __slots__ = ("_batch", "_crc_ok")

    def __init__(self, batch: Any, *, crc_ok: bool) -> None:
        self._batch = batch
        self._crc_ok = crc_ok

    def validate_crc(self) -> bool:
        return self._crc_ok

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._batch)

    def __next__(self) -> Any:
        return next(self._batch)


class _StandIn:
    """The one record a refused batch yields, at the batch's last offset."""

    __slots__ = ("headers", "key", "offset", "timestamp", "timestamp_type", "value")
    checksum = None

    def __init__(self, *, offset: int, timestamp: int, reason: str) -> None:
        self.offset = offset
        self.timestamp = timestamp
        self.timestamp_type = 0
        self.key = None
        self.value = RefusedBatch(reason)
        self.headers: list[tuple[str, bytes]] = []


class _Refused:
    """A batch not inflated, as the client sees it: one stand-in record."""

    is_control_batch = False
    is_transactional = False
    producer_id = None

    def __init__(
        self, *, base_offset: int, next_offset: int, timestamp: int, reason: str, crc_ok: bool
    ) -> None:
        self.base_offset = base_offset
        self.next_offset = next_offset
        self._crc_ok = crc_ok
        self._records = iter([_StandIn(offset=next_offset - 1, timestamp=timestamp, reason=reason)])

    def validate_crc(self) -> bool:
        return self._crc_ok

    def __iter__(self) -> Iterator[_StandIn]:
        return self._records

    def __next__(self) -> _StandIn:
        return next(self._records)


class BoundedRecords:
    """The record batches of one partition's fetch response, compressed ones inflated
    within the bound (module doc). Has the client's record-set interface.

    Args:
        data: The fetched bytes.
        limit: Most bytes a batch, and all batches of this response together, inflate to.
    """

    def __init__(self, data: bytes, *, limit: int) -> None:
        self._data = data
        self._pos = 0
        self._limit = limit
        self._inflated = 0
        self._next: memoryview | None = None
        self._cache_next()

    def size_in_bytes(self) -> int:
        return len(self._data)

    def has_next(self) -> bool:
        return self._next is not None

    def _cache_next(self) -> None:
        data, pos = self._data, self._pos
        if len(data) - pos < _LOG_OVERHEAD:
            self._next = None
            return
        (length,) = struct.unpack_from(">i", data, pos + _LENGTH_AT)
        end = pos + _LOG_OVERHEAD + length
        if end > len(data) or length < 0:  # a partial batch at the end of a fetch
            self._next = None
            return
        self._next = memoryview(data)[pos:end]
        self._pos = end

    def next_batch(self) -> Any:
        batch = self._next
        if batch is None:
            return None
        self._cache_next()
        magic = batch[16] if len(batch) > 16 else 0
        if magic < 2:
            return self._legacy(batch)
        codec = batch[_ATTRIBUTES_AT + 1] & _CODEC_MASK
        original = DefaultRecordBatch(bytes(batch))
        if codec == 0:
            return original
        crc_ok = original.validate_crc()
        header = _HEADER.unpack_from(batch)
        base_offset, last_delta, max_timestamp = header[0], header[6], header[8]
        try:
            records = inflate(codec, batch[_HEADER.size :], limit=self._limit)
        except InflationRefused as exc:
            reason = (
                f"a {_CODECS.get(codec, '?')} batch of {len(batch)} bytes, offsets "
                f"{base_offset}-{base_offset + last_delta}: {exc}"
            )
            return _Refused(
                base_offset=base_offset,
                next_offset=base_offset + last_delta + 1,
                timestamp=max_timestamp,
                reason=reason,
                crc_ok=crc_ok,
            )
        self._inflated += len(records)
        if self._inflated > self._limit:  # enough for this fetch: the rest comes again
            self._next = None
        plain = bytearray(batch[: _HEADER.size])
        struct.pack_into(">i", plain, _LENGTH_AT, _HEADER.size - _LOG_OVERHEAD + len(records))
        struct.pack_into(">h", plain, _ATTRIBUTES_AT, header[5] & ~_CODEC_MASK)
        plain += records
        return _Inflated(DefaultRecordBatch(bytes(plain)), crc_ok=crc_ok)

    def _legacy(self, batch: memoryview) -> Any:
        from aiokafka.record.legacy_records import LegacyRecordBatch

        magic = batch[16]
        attributes = batch[17] if len(batch) > 17 else 0
        legacy = LegacyRecordBatch(bytes(batch), magic)
        if not attributes & _CODEC_MASK:
            return legacy
        (offset,) = struct.unpack_from(">q", batch, 0)
        return _Refused(
            base_offset=offset,
            next_offset=offset + 1,
            timestamp=-1,
            reason=f"a compressed batch of the legacy format v{magic}, offset {offset}",
            crc_ok=legacy.validate_crc(),
        )


_installed: list[int] = []


def install(*, limit: int) -> None:
    """Have every Kafka consumer of this process read fetched batches through
    :class:`BoundedRecords` with at least ``limit`` (the largest any consumer asked for:
    one process has one ``BATON_MAX_LINE_BYTES``)."""
    if _installed and _installed[0] >= limit:
        return
    _installed[:] = [limit]

    def bounded(data: bytes) -> BoundedRecords:
        return BoundedRecords(data, limit=_installed[0])

    _fetcher.MemoryRecords = bounded

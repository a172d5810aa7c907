"""Fetched batches are inflated by Baton within a bound: the records of a batch that fits
are the client's own, a batch past the bound is one stand-in record, never inflated."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.legacy_records import LegacyRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords

from baton.bus.inflation import (
    BoundedRecords,
    InflationRefused,
    RefusedBatch,
    fetch_limits,
    inflate,
    inflated_batch_limit,
)

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
LIMIT = 1 << 20


def batch(codec: int, values: list[bytes], *, base: int = 0) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=2**31 - 1,
    )
    for delta, value in enumerate(values):
        builder.append(delta, timestamp=1_000 + delta, key=b"k", value=value, headers=[("h", b"x")])
    built = bytearray(builder.build())
    built[0:8] = base.to_bytes(8, "big")
    return bytes(built)


def read(records: Any) -> list[tuple[int, Any, Any, list[Any]]]:
    out = []
    while records.has_next():
        next_batch = records.next_batch()
        assert next_batch.validate_crc()
        out += [(r.offset, r.key, r.value, list(r.headers)) for r in next_batch]
    return out


@pytest.mark.parametrize("codec", CODECS)
def test_batches_within_the_bound_read_as_the_client_reads_them(codec: str) -> None:
    code = CODECS[codec]
    data = batch(code, [b"line %d" % n for n in range(200)]) + batch(
        code, [b"x" * 5000] * 3, base=200
    )
    assert read(BoundedRecords(data, limit=LIMIT)) == read(MemoryRecords(data))


@pytest.mark.parametrize("codec", [c for c in CODECS if c != "none"])
def test_a_batch_past_the_bound_is_one_stand_in_at_its_last_offset(codec: str) -> None:
    data = batch(CODECS[codec], [bytes(300_000)] * 10, base=40)
    (record,) = list(BoundedRecords(data, limit=LIMIT).next_batch())
    assert record.offset == 49
    assert record.key is None
    assert isinstance(record.value, RefusedBatch)
    assert record.value == b""
    assert record.value.reason.startswith(f"a {codec} batch of {len(data)} bytes, offsets 40-49")
    assert "inflates past 1048576 bytes" in record.value.reason


def test_a_batch_just_within_the_bound_is_inflated() -> None:
    values = [bytes(100_000)] * 10  # ~1 MB with the records' framing
    data = batch(CODECS["zstd"], values)
    assert len(read(BoundedRecords(data, limit=1_001_000))) == 10
    assert isinstance(
        next(iter(BoundedRecords(data, limit=999_000).next_batch())).value, RefusedBatch
    )


def test_a_fetch_stops_once_its_batches_inflated_past_the_bound() -> None:
    one = [bytes(400_000)]
    data = b"".join(batch(CODECS["lz4"], one, base=n) for n in range(5))
    offsets = [r[0] for r in read(BoundedRecords(data, limit=LIMIT))]
    assert offsets == [0, 1, 2]  # the rest is fetched again from offset 3


def test_garbage_and_legacy_compressed_batches_are_refused() -> None:
    with pytest.raises(InflationRefused, match="not valid gzip"):
        inflate(1, memoryview(b"\x1f\x8b not gzip"), limit=LIMIT)
    with pytest.raises(InflationRefused, match="not valid zstd"):
        inflate(4, memoryview(b"nonsense"), limit=LIMIT)
    legacy = LegacyRecordBatchBuilder(magic=1, compression_type=1, batch_size=2**31 - 1)
    legacy.append(0, timestamp=1, key=None, value=b"x" * 100)
    (record,) = list(BoundedRecords(bytes(legacy.build()), limit=LIMIT).next_batch())
    assert "legacy format v1" in record.value.reason


def test_limits_follow_the_line_limit() -> None:
    assert inflated_batch_limit(1_048_576) == 4 * 1_048_576
    assert fetch_limits(1_048_576) == {
        "max_partition_fetch_bytes": 2 * 1_048_576,
        "fetch_max_bytes": 8 * 1_048_576,
    }

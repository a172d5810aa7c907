"""Baton's partitioner: which partition of a topic a record's key belongs on.

Baton keys every event by its workflow id (or its ``partition_key``), and a workflow's
events are handled in order because they all land on one partition. Every producer
writing to Baton's topics must therefore place a key as Baton does: the Java client's
default partitioner, that is murmur2 of the key bytes (initial value ``0x9747b28c``), made positive
by masking the sign bit, modulo the topic's partition count. librdkafka-based clients
(kcat, confluent-kafka) get it with ``partitioner=murmur2_random``; their default,
``consistent_random`` (CRC32), puts most keys elsewhere.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

__all__ = ["LIBRDKAFKA_PARTITIONER", "PARTITIONER", "murmur2", "partition_of"]

PARTITIONER: Final = "murmur2"
"""Name of Baton's partitioner, as ``baton partition --json`` reports it."""
LIBRDKAFKA_PARTITIONER: Final = "murmur2_random"
"""The librdkafka ``partitioner`` setting that matches Baton's for keyed records."""

_SEED: Final = 0x9747B28C
_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """The 32-bit murmur2 hash of ``data`` as Kafka's Java client computes it (a signed
    int, as Java's ``Utils.murmur2`` returns it)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    tail = length & ~3
    for i in range(0, tail, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


@lru_cache(maxsize=8192)  # the consumer checks every record; workflow ids repeat
def partition_of(key: bytes, *, partitions: int) -> int:
    """The partition of a topic with ``partitions`` partitions that ``key`` belongs on.

    Raises:
        ValueError: ``partitions`` is not positive.
    """
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % partitions

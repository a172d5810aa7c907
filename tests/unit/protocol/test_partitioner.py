"""Baton's partitioner is the Java client's: murmur2 vectors from Kafka's own tests, and the
same choice as aiokafka's default partitioner (what the bus's producer uses)."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner

from baton.protocol.partitioner import murmur2, partition_of

# org.apache.kafka.common.utils.UtilsTest#testMurmur2
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}

# The Java producer's partition of these keys on a topic of 1000 partitions.
JAVA_PARTITIONS_OF_1000 = {
    b"": 681,
    b"a": 524,
    b"ab": 434,
    b"abc": 107,
    b"123456789": 566,
    b"\x00 ": 742,
}


@pytest.mark.parametrize(("data", "expected"), JAVA_MURMUR2.items())
def test_murmur2_matches_the_java_client(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


@pytest.mark.parametrize(("key", "expected"), JAVA_PARTITIONS_OF_1000.items())
def test_partition_matches_the_java_producer(key: bytes, expected: int) -> None:
    assert partition_of(key, partitions=1000) == expected


def test_partition_agrees_with_the_producers_default_partitioner() -> None:
    rng = random.Random(19)
    partitioner = DefaultPartitioner()
    for _ in range(3000):
        key = rng.randbytes(rng.randint(0, 48))
        count = rng.randint(1, 64)
        every = list(range(count))
        assert partition_of(key, partitions=count) == partitioner(key, every, every), key
    # Workflow ids as the hub names them.
    for n in range(500):
        key = f"wf_{n:04d}".encode()
        assert partition_of(key, partitions=6) == partitioner(key, list(range(6)), [])


def test_a_topic_has_at_least_one_partition() -> None:
    assert partition_of(b"wf_001", partitions=1) == 0
    with pytest.raises(ValueError, match="at least one partition"):
        partition_of(b"wf_001", partitions=0)

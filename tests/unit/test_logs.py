"""aiokafka's retried coordinator lookups are not logged as errors; other errors still are."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError

from baton.logs import TransientCoordinatorFilter
from baton.stack._kafka_probe import offsets_partition, probe_groups

LOGGER = "aiokafka.consumer.group_coordinator"


def record(
    error: Exception, *, message: str = "Group Coordinator Request failed: %s"
) -> logging.LogRecord:
    return logging.LogRecord(LOGGER, logging.ERROR, __file__, 1, message, (error,), None)


@pytest.mark.parametrize("level", [logging.WARNING, logging.INFO])
def test_a_retried_coordinator_lookup_is_demoted_to_info(level: int) -> None:
    logging.getLogger(LOGGER).setLevel(level)
    try:
        got = record(GroupCoordinatorNotAvailableError())
        kept = TransientCoordinatorFilter().filter(got)
        assert (got.levelno, got.levelname) == (logging.INFO, "INFO")
        assert kept is (level <= logging.INFO)  # dropped where INFO is not logged
    finally:
        logging.getLogger(LOGGER).setLevel(logging.NOTSET)


def test_errors_that_are_not_retried_stay_errors() -> None:
    denied = record(GroupAuthorizationFailedError())
    other = record(GroupCoordinatorNotAvailableError(), message="Unexpected error: %s")
    for got in (denied, other):
        assert TransientCoordinatorFilter().filter(got) is True
        assert got.levelno == logging.ERROR


def test_groups_are_placed_on_offsets_partitions_as_kafka_places_them() -> None:
    # Java: "hello".hashCode() == 99162322; "polygenelubricants".hashCode() == Integer.MIN_VALUE
    assert offsets_partition("hello", 50) == 99162322 % 50
    assert offsets_partition("polygenelubricants", 50) == 0
    groups = probe_groups(50)
    assert [offsets_partition(group, 50) for group in groups] == list(range(50))

"""``baton_wrong_partition_total``: records another client put on the wrong partition.

Read from the bus at scrape time (:mod:`baton.bus.rerouting` counts them, per topic, in
``bus.wrong_partitions``). Each consumer group that meets such a record counts it, so one
misplaced record read by three groups of a service counts three. Anything above zero means
a producer places keys with another partitioner than Baton's (docs/partitioning.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from baton.bus import Bus

__all__ = ["WrongPartitionCollector"]


class WrongPartitionCollector(Collector):
    """Exports ``bus.wrong_partitions`` as ``baton_wrong_partition_total{service, topic}``.

    Args:
        bus: The service's bus.
        service: Value of the ``service`` label.
    """

    def __init__(self, *, bus: Bus, service: str) -> None:
        self._bus = bus
        self._service = service

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "baton_wrong_partition",
            "Records found on another partition than Baton's partitioner gives their key",
            labels=["service", "topic"],
        )
        for topic, count in sorted(self._bus.wrong_partitions.items()):
            family.add_metric([self._service, topic], count)
        yield family

"""``baton partition``: the partition of a topic a record key belongs on."""

from __future__ import annotations

from typing import Annotated

import typer

from baton.bus.kafka import partitions_of
from baton.cli.common import emit, run, settings
from baton.protocol.partitioner import LIBRDKAFKA_PARTITIONER, PARTITIONER, partition_of

__all__ = ["HELP", "partition"]

HELP = (
    "Print the partition Baton's partitioner gives KEY: murmur2 of the key's UTF-8 bytes, "
    "made positive, modulo the topic's partitions (the Java client's default). A producer "
    "writing Baton's topics must place keys the same way (librdkafka: "
    f"partitioner={LIBRDKAFKA_PARTITIONER}); see docs/partitioning.md.\n\n"
    "Without --partitions, the partition count of --topic (default: the events topic) is "
    "asked of the broker (BATON_KAFKA_BOOTSTRAP or the local stack's)."
)


def partition(
    key: Annotated[
        str, typer.Argument(help="The record key: a workflow id, or an event's partition key.")
    ],
    partitions: Annotated[
        int | None,
        typer.Option("--partitions", min=1, help="The topic's partition count (no broker)."),
    ] = None,
    topic: Annotated[
        str | None,
        typer.Option(help="Topic whose partition count the broker gives (default: events)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the partition KEY belongs on."""
    if partitions is None:
        config = settings()
        name = topic or config.topics.events
        security = config.kafka_security

        async def count() -> int:
            return len(await partitions_of(config.bootstrap, [name], security=security))

        total, topic = run(count), name
    else:
        total = partitions
    chosen = partition_of(key.encode(), partitions=total)
    if as_json:
        emit(
            {
                "key": key,
                "topic": topic,
                "partitions": total,
                "partition": chosen,
                "partitioner": PARTITIONER,
            }
        )
    else:
        emit(chosen, as_json=False)

"""Every Kafka producer Baton makes is idempotent and waits for every in-sync replica.

On a replicated cluster (``baton stack up --brokers 3``: replication 3,
``min.insync.replicas`` 2) that is what makes an acknowledged record survive the loss of a
broker, and a send retried across a leader change land once.
"""

from __future__ import annotations

from pathlib import Path

from aiokafka import AIOKafkaProducer

from baton.bus.kafka import DURABLE_PRODUCER, producer_options
from baton.config import BatonSettings
from baton_monitor.faust_app import DurableProducer, SourceTopic, build_app


def test_the_bus_producer_is_idempotent_with_acks_all() -> None:
    options = producer_options(BatonSettings(kafka_bootstrap="k1:9092,k2:9092"))
    assert options["acks"] == "all"
    assert options["enable_idempotence"] is True
    assert options["bootstrap_servers"] == "k1:9092,k2:9092"
    assert dict(DURABLE_PRODUCER) == {"acks": "all", "enable_idempotence": True}


async def test_aiokafka_accepts_the_bus_producer_options() -> None:
    # aiokafka refuses idempotence with any acks but "all" when the producer is made.
    producer = AIOKafkaProducer(**producer_options(BatonSettings()))
    await producer.stop()


async def test_the_monitor_faust_producer_is_idempotent_with_acks_all(tmp_path: Path) -> None:
    app = build_app(
        app_id="t_producers",
        bootstrap="127.0.0.1:1",
        data_dir=tmp_path,
        source=SourceTopic("t.events", 6, 3),
    )
    producer = app.producer
    assert isinstance(producer, DurableProducer)
    # What faust hands AIOKafkaProducer: its defaults, then the extras (see _new_producer).
    options = {**producer._settings_default(), **producer._settings_extra()}
    assert options["acks"] == "all"
    assert options["enable_idempotence"] is True
    assert options["linger_ms"] == 50  # a batch's changelog writes share produce requests

"""Topic specifications (SPEC §3), without a broker."""

from __future__ import annotations

import pydantic
import pytest

from baton.config import SERVICES, BatonSettings
from baton.topics import (
    REPLIES_RETENTION_MS,
    STATE_MIN_COMPACTION_LAG_MS,
    TopicSpec,
    replication_for,
    topic_specs,
)


def by_name(settings: BatonSettings) -> dict[str, TopicSpec]:
    return {spec.name: spec for spec in topic_specs(settings)}


def test_default_names_cover_every_topic_of_the_spec() -> None:
    specs = topic_specs(BatonSettings())
    names = [spec.name for spec in specs]
    sources = ["baton.events", "baton.replies", *(f"baton.commands.{s}" for s in SERVICES)]
    expected = {"baton.events", "baton.state", "baton.replies"}
    expected |= {f"baton.commands.{service}" for service in SERVICES}
    for source in sources:
        expected |= {f"{source}.retry.{n}" for n in (1, 2, 3)} | {f"{source}.dlq"}
    assert set(names) == expected
    assert len(names) == len(set(names)) == 8 + 7 * 4
    assert names[:3] == ["baton.events", "baton.state", "baton.replies"]


def test_prefix_and_retry_levels_follow_settings() -> None:
    specs = by_name(BatonSettings(topic_prefix="acme", retry_delays=(0.5, 2.0)))
    assert "acme.events.retry.2" in specs
    assert "acme.events.retry.3" not in specs
    assert "acme.commands.hub.dlq" in specs
    assert all(name.startswith("acme.") for name in specs)


def test_no_retry_delays_means_only_dead_letters() -> None:
    specs = by_name(BatonSettings(retry_delays=()))
    assert not [name for name in specs if ".retry." in name]
    assert "baton.events.dlq" in specs


def test_every_topic_has_explicit_partitions_replication_and_cleanup_policy() -> None:
    settings = BatonSettings(partitions=12, replication=3)
    for spec in topic_specs(settings):
        assert spec.partitions == 12, spec.name
        assert spec.replication == 3, spec.name
        assert spec.config["cleanup.policy"] in {"delete", "compact"}, spec.name
        assert "retention.ms" in spec.config, spec.name
        assert spec.config["min.insync.replicas"] == "2", spec.name


def test_single_replica_needs_one_in_sync_replica() -> None:
    for spec in topic_specs(BatonSettings(replication=1)):
        assert spec.config["min.insync.replicas"] == "1"


@pytest.mark.parametrize(
    ("brokers", "replication", "in_sync"), [(1, 1, "1"), (2, 2, "1"), (3, 3, "2"), (5, 3, "2")]
)
def test_unset_replication_follows_the_cluster_up_to_three(
    brokers: int, replication: int, in_sync: str
) -> None:
    settings = BatonSettings()
    assert settings.replication is None
    assert replication_for(settings, brokers=brokers) == replication
    for spec in topic_specs(settings, brokers=brokers):
        assert spec.replication == replication, spec.name
        assert spec.config["min.insync.replicas"] == in_sync, spec.name


def test_configured_replication_wins_over_the_cluster_size() -> None:
    settings = BatonSettings.from_env({"BATON_REPLICATION": "2"})
    assert replication_for(settings, brokers=3) == 2
    assert {s.replication for s in topic_specs(settings, brokers=3)} == {2}
    assert {s.config["min.insync.replicas"] for s in topic_specs(settings, brokers=3)} == {"1"}


def test_retention_per_kind_of_topic() -> None:
    settings = BatonSettings(events_retention_ms=3_600_000 * 24)
    specs = by_name(settings)
    day = str(3_600_000 * 24)
    assert specs["baton.events"].config["retention.ms"] == day
    assert specs["baton.commands.hub"].config["retention.ms"] == day
    assert specs["baton.events.retry.1"].config["retention.ms"] == day
    assert specs["baton.events.dlq"].config["retention.ms"] == str(4 * 3_600_000 * 24)
    assert specs["baton.replies"].config["retention.ms"] == str(REPLIES_RETENTION_MS)
    assert specs["baton.replies.retry.1"].config["retention.ms"] == str(REPLIES_RETENTION_MS)
    assert specs["baton.replies.dlq"].config["retention.ms"] == str(4 * 3_600_000 * 24)


def test_state_topic_is_compacted_without_time_retention() -> None:
    settings = BatonSettings(partitions=3)
    state = by_name(settings)["baton.state"]
    assert state.cleanup_policy == "compact"
    assert state.partitions == 3
    assert state.config["retention.ms"] == "-1"
    assert state.config["min.compaction.lag.ms"] == str(STATE_MIN_COMPACTION_LAG_MS)
    others = [s for s in topic_specs(settings) if s.name != "baton.state"]
    assert {s.cleanup_policy for s in others} == {"delete"}


def test_largest_line_fits_in_a_record() -> None:
    for size in (64, 1_048_576, 5_000_000):
        for spec in topic_specs(BatonSettings(max_line_bytes=size)):
            assert int(spec.config["max.message.bytes"]) > size


def test_specs_are_frozen_and_values_are_strings() -> None:
    spec = topic_specs(BatonSettings())[0]
    with pytest.raises(pydantic.ValidationError):
        spec.partitions = 1  # type: ignore[misc]
    assert all(isinstance(v, str) for s in topic_specs(BatonSettings()) for v in s.config.values())

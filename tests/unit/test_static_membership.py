"""BATON_INSTANCE_ID turns on static group membership, one member id per source topic."""

from __future__ import annotations

import pytest

from baton.bus import KafkaTransport
from baton.config import BatonSettings
from baton.errors import ConfigError


def _instance_id(settings: BatonSettings, *, group: str | None) -> str | None:
    consumer = KafkaTransport(settings=settings).consumer(
        group=group, topics=["p.events", "p.events.retry.1"], from_beginning=True
    )
    value: str | None = consumer._consumer._group_instance_id
    return value


async def test_an_instance_id_makes_group_members_static_per_source_topic() -> None:
    settings = BatonSettings.from_env({"BATON_INSTANCE_ID": "hub-0"})
    assert _instance_id(settings, group="p.hub") == "hub-0.p.events"


async def test_without_one_or_without_a_group_membership_is_dynamic() -> None:
    assert _instance_id(BatonSettings.from_env({}), group="p.hub") is None
    settings = BatonSettings.from_env({"BATON_INSTANCE_ID": "hub-0"})
    assert _instance_id(settings, group=None) is None


def test_an_instance_id_must_be_a_plain_name() -> None:
    with pytest.raises(ConfigError, match="BATON_INSTANCE_ID"):
        BatonSettings.from_env({"BATON_INSTANCE_ID": "hub 0/x"})

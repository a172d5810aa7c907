"""Retention settings and rules (issue 17.4): validated at start, safe windows by default."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from baton.config import BatonSettings
from baton.errors import BatonError, ConfigError
from baton.runtime import Pruner, PruneRule, RetentionConfig, Service, ServiceRunner
from baton.runtime.retention import KAFKA_SEGMENT_ROLL, LEDGER_MARGIN, runtime_rules
from baton_hub.runner import HubService
from baton_monitor.runner import MonitorService
from baton_recovery.runner import RecoveryService

DAY = 86_400.0


def test_windows_are_durations_or_seconds() -> None:
    config = RetentionConfig.from_env(
        {
            "BATON_RETENTION_LEDGER": "14d",
            "BATON_RETENTION_REPLIES": "3600",
            "BATON_RETENTION_WORKFLOWS": "1d 12h",
            "BATON_RETENTION_INTERVAL": "30s",
            "BATON_RETENTION_BATCH": "200",
        }
    )
    assert (config.ledger, config.replies, config.workflows) == (14 * DAY, 3600.0, 1.5 * DAY)
    assert (config.interval, config.batch) == (30.0, 200)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BATON_RETENTION_LEDGER", "7 days"),
        ("BATON_RETENTION_CHECKPOINTS", "0"),
        ("BATON_RETENTION_BATCH", "0"),
        ("BATON_RETENTION_ACTIONS", "-1d"),
        ("BATON_RETENTION_VIEWZ", "1d"),  # a typo is refused, not ignored
    ],
)
def test_bad_retention_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        RetentionConfig.from_env({name: value})
    assert info.value.fields["variable"] == name


def test_the_ledger_outlives_what_the_topics_may_still_hold_by_default() -> None:
    settings = BatonSettings(events_retention_ms=3 * 86_400_000)
    config = RetentionConfig()
    config.check(settings=settings)
    ledger = config.ledger_window(settings=settings)
    assert ledger == timedelta(seconds=3 * DAY + KAFKA_SEGMENT_ROLL + LEDGER_MARGIN)
    assert ledger == timedelta(days=11)
    assert config.replies_window(settings=settings) == ledger
    rules = {rule.name: rule for rule in runtime_rules(config, settings=settings)}
    assert rules["ledger"].window == ledger
    assert rules["replies"].window == ledger


@pytest.mark.parametrize("name", ["BATON_RETENTION_LEDGER", "BATON_RETENTION_REPLIES"])
def test_a_window_shorter_than_the_topics_retention_is_refused(name: str) -> None:
    settings = BatonSettings(events_retention_ms=7 * 86_400_000)
    with pytest.raises(ConfigError) as info:
        RetentionConfig.from_env({name: "6d"}).check(settings=settings)
    assert info.value.fields["variable"] == name
    RetentionConfig.from_env({name: "7d"}).check(settings=settings)


def test_a_service_refuses_to_start_with_an_unsafe_window() -> None:
    settings = BatonSettings(events_retention_ms=7 * 86_400_000)
    with pytest.raises(ConfigError, match="BATON_RETENTION_LEDGER"):
        ServiceRunner(HubService, settings=settings, env={"BATON_RETENTION_LEDGER": "1h"})


def test_the_outbox_rule_spares_this_deployments_relays() -> None:
    settings = BatonSettings(topic_prefix="acme")
    outbox = {r.name: r for r in runtime_rules(RetentionConfig(), settings=settings)}["outbox"]
    assert outbox.condition is not None
    for service in ("hub", "resource", "status", "monitor", "recovery"):
        assert f"'acme.{service}'" in outbox.condition
    assert outbox.together_by is None


def test_each_services_runner_prunes_the_runtimes_tables_and_its_own() -> None:
    settings = BatonSettings()
    env = {"BATON_RETENTION_WORKFLOWS": "2d"}

    def rules(service: type[Service]) -> dict[str, PruneRule]:
        runner = ServiceRunner(service, settings=settings, env=env)
        return {rule.table: rule for rule in runner.prune_rules()}

    hub = rules(HubService)
    assert list(hub) == ["baton_processed", "baton_replies", "baton_outbox", "hub_workflows"]
    assert hub["hub_workflows"].window == timedelta(days=2)
    assert hub["hub_workflows"].condition == "status in ('CANCELLED', 'COMPLETED', 'FAILED')"
    recovery = rules(RecoveryService)
    assert {table: rule.together_by for table, rule in recovery.items()} == {
        "baton_processed": None,
        "baton_replies": None,
        "baton_outbox": None,
        "recovery_checkpoints": "workflow_id",
        "recovery_reports": "workflow_id",
        "recovery_actions": None,
    }
    assert list(rules(MonitorService)) == ["baton_processed", "baton_replies", "baton_outbox"]


@pytest.mark.parametrize(
    "bad",
    [
        {"table": "t; drop table x"},
        {"time_column": "Created"},
        {"together_by": "a b"},
        {"window": timedelta(0)},
    ],
)
def test_a_rule_takes_plain_names_and_a_positive_window(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "name": "r",
        "table": "t",
        "time_column": "created_at",
        "window": timedelta(days=1),
        **bad,
    }
    with pytest.raises(BatonError, match="prune rule r"):
        PruneRule(**fields)  # type: ignore[arg-type]


class _CancelledBatches:
    """A database whose ``hub_workflows`` batches are cancelled by the server."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_CancelledBatches]:
        yield self

    async def fetchval(self, query: str, *args: object) -> bool:
        return True  # the rule's lock

    async def fetchrow(self, query: str, *args: object) -> dict[str, object]:
        self.statements.append(query)
        if "hub_workflows" in query:
            raise asyncpg.QueryCanceledError("canceling statement due to statement timeout")
        return {"seen": 0, "last": None, "deleted": 0}


async def test_a_batch_cut_short_by_the_server_waits_for_the_next_pass() -> None:
    db = _CancelledBatches()
    rules = [
        PruneRule(name=t, table=t, time_column="t", window=timedelta(days=1))
        for t in ("hub_workflows", "baton_processed")
    ]
    pruner = Pruner(db=db, rules=rules, batch=10, interval=1)  # type: ignore[arg-type]
    assert await pruner.prune() == {"hub_workflows": 0, "baton_processed": 0}
    assert len(db.statements) == 2  # the next rule still ran

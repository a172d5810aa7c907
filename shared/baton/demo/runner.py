"""``baton demo``: the whole system running seed 002's scenarios.

Starts the five services as supervised processes (their logs prefixed by service), a few
agent workers, then runs the three scenarios of :mod:`baton.demo.scenarios` one after
the other with a live table, keeps a malformed line as a dead letter, and ends with a
summary per workflow and the dashboard's address.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from baton.bus import Bus
from baton.bus.deadletters import read_dead_letters
from baton.client import BatonClient
from baton.config import BatonSettings
from baton.demo.agents import Workforce
from baton.demo.scenarios import SCENARIOS, Scenario
from baton.demo.supervisor import ServiceSupervisor
from baton.demo.tracker import Tracker
from baton.errors import BatonError
from baton.protocol.event import Event

__all__ = ["DemoFailedError", "DemoOptions", "demo_env", "run_demo"]

SERVICES = ("resource", "hub", "recovery", "status", "monitor")
MALFORMED = b"PHASE_COMPLETED:impl_auth_001:{'duration':'45m'}"

DEMO_TUNING: Mapping[str, str] = {
    "BATON_RESOURCE_POOLS": '{"agents": 4}',
    "BATON_HUB_FAILURE_POLICY": "recovery",
    "BATON_HEARTBEAT_INTERVAL": "2",
    "BATON_RECOVERY_AGENT_INTERVAL": "1",
    "BATON_RECOVERY_CHECK_INTERVAL": "0.5",
    "BATON_RECOVERY_RETRY_BASE": "0.3",
    "BATON_RECOVERY_RETRY_MAX_DELAY": "1",
    "BATON_RETRY_DELAYS": "0.5,1,2",
}
"""Settings that make the scenarios run in seconds; the caller's environment wins."""


class DemoFailedError(BatonError):
    """A scenario did not end as expected (a workflow's status, or its time ran out)."""

    def __init__(self, message: str, *, workflows: Mapping[str, str]) -> None:
        super().__init__(message, workflows=dict(workflows))
        self.workflows = dict(workflows)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """How the demo runs."""

    once: bool = False
    scenario_timeout: float = 180.0
    log_level: str = "WARNING"
    agents: int = 4


def demo_env(*, config: BatonSettings, env: Mapping[str, str], log_level: str) -> dict[str, str]:
    """The services' environment: the demo's tuning, then the caller's, then endpoints."""
    return {
        **DEMO_TUNING,
        "BATON_LOG_LEVEL": log_level,
        **env,
        "BATON_KAFKA_BOOTSTRAP": config.bootstrap,
        "BATON_PG_DSN": config.dsn,
        "BATON_TOPIC_PREFIX": config.topic_prefix,
    }


async def run_demo(
    *, config: BatonSettings, env: Mapping[str, str], options: DemoOptions, console: Console
) -> list[dict[str, Any]]:
    """Run the demo; returns the summary rows (raises :class:`DemoFailedError`)."""
    tag = secrets.token_hex(2)
    log_dir = config.home / "demo" / "logs"
    children = demo_env(config=config, env=env, log_level=options.log_level)
    tracker = Tracker()
    supervisor = ServiceSupervisor(
        services=SERVICES,
        env=children,
        log_dir=log_dir,
        on_line=lambda service, line: _print_line(console, service, line),
    )
    bus = Bus(settings=config)
    # A stable group: a later demo run on the same topics starts where this one ended.
    bus.subscribe("#", tracker.on_event, group="baton-demo-tracker")
    client = BatonClient(component="demo-agents", settings=config)
    workforce = Workforce(client=client, count=options.agents)
    own_log = _ConsoleLog(console=console, level=options.log_level)
    # JSON lines are written by the process's own handler (baton.logs), once.
    if config.log_format == "text":
        logging.getLogger().addHandler(own_log)
    stopping = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if stopping is not None:
        loop.add_signal_handler(signal.SIGTERM, stopping.cancel)
    try:
        with console.status("starting resource, hub, recovery, status, monitor..."):
            began = time.monotonic()
            await supervisor.start()
        console.print(
            f"[bold]5 services ready[/] in {time.monotonic() - began:.1f}s; logs in {log_dir}"
        )
        await bus.start()
        await client.start()
        await workforce.start()
        console.print(f"[bold]{options.agents} agent workers[/]: {', '.join(workforce.agent_ids)}")
        runner = _Scenarios(bus=bus, tracker=tracker, workforce=workforce, tag=tag, console=console)
        with Live(tracker.table(), console=console, refresh_per_second=4) as live:
            refresh = asyncio.create_task(_refresh(live, tracker))
            try:
                for scenario in SCENARIOS:
                    await _until_first(
                        runner.run(scenario, timeout=options.scenario_timeout),
                        supervisor.wait_failed(),
                    )
            finally:
                refresh.cancel()
                live.update(tracker.table())
        await _show_dead_letter(bus=bus, console=console)
        rows = _summary(tracker)
        console.print(_summary_table(rows))
        dashboard = supervisor.url("status", "/")
        console.print(f"Dashboard: [bold]{dashboard}[/]   live events: baton events tail '#'")
        failed = {r["workflow_id"]: r["status"] for r in rows if r["status"] != "COMPLETED"}
        if failed:
            raise DemoFailedError(f"workflows did not complete: {failed}", workflows=failed)
        if not options.once:
            console.print("Running; Ctrl-C to stop (the dashboard stays up meanwhile).")
            await supervisor.wait_failed()
        return rows
    finally:
        logging.getLogger().removeHandler(own_log)
        if stopping is not None:
            loop.remove_signal_handler(signal.SIGTERM)
        await workforce.stop()
        await client.stop()
        await bus.stop()
        codes = await supervisor.stop()
        unclean = {name: code for name, code in codes.items() if code not in (0, None)}
        if unclean:
            console.print(f"[red]services exited uncleanly[/]: {unclean}")


def _print_line(console: Console, source: str, line: str) -> None:
    # Text, not markup: log lines hold brackets ("[A-Za-z0-9_.-]") rich would try to parse.
    console.print(Text.assemble((f"{source:>8} │ ", "magenta"), line))


class _ConsoleLog(logging.Handler):
    """The demo process's own warnings (its agents, its bus), prefixed like the services'."""

    def __init__(self, *, console: Console, level: str) -> None:
        super().__init__(level=level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        _print_line(
            self.console, "demo", f"{record.levelname} {record.name}: {record.getMessage()}"
        )


async def _until_first(work: Any, failure: Any) -> None:
    """Await ``work``; a supervised service giving up interrupts it."""
    done_task = asyncio.ensure_future(work)
    failed_task = asyncio.ensure_future(failure)
    try:
        done, _ = await asyncio.wait({done_task, failed_task}, return_when=asyncio.FIRST_COMPLETED)
        (done_task if done_task in done else failed_task).result()
    finally:
        for task in (done_task, failed_task):
            task.cancel()
        await asyncio.gather(done_task, failed_task, return_exceptions=True)


async def _refresh(live: Live, tracker: Tracker) -> None:
    while True:
        live.update(tracker.table())
        await asyncio.sleep(0.25)


@dataclass
class _Scenarios:
    bus: Bus
    tracker: Tracker
    workforce: Workforce
    tag: str
    console: Console

    async def run(self, scenario: Scenario, *, timeout: float) -> None:
        self.console.rule(f"[bold]{scenario.title}")
        ids = []
        for workflow in scenario.workflows:
            definition = workflow.to_definition(self.tag)
            ids.append(definition["workflow_id"])
            self.tracker.track(
                workflow_id=definition["workflow_id"],
                scenario=scenario.key,
                phases=list(definition["phases"]),
            )
            reply = await self._ask(
                "hub", "CREATE_WORKFLOW", definition["workflow_id"], {"definition": definition}
            )
            self.console.print(f"created {definition['workflow_id']}: {reply.get('status', reply)}")
        if scenario.key == "recovery":
            await self._recover(ids[0], timeout=timeout)
        await self._until(lambda: self.tracker.finished(ids), timeout=timeout, what=scenario.title)

    async def _recover(self, workflow_id: str, *, timeout: float) -> None:
        self.workforce.breaking = True
        await self._until(
            lambda: self.tracker.rows[workflow_id].status == "FAILED",
            timeout=timeout,
            what=f"{workflow_id} to fail",
        )
        analysis = await self._ask("recovery", "ANALYZE_FAILURE", workflow_id, {})
        reports = analysis.get("reports") or []
        if reports:
            report = reports[-1].get("error_report") or {}
            category = (report.get("classification") or {}).get("category")
            ranked = [s.get("strategy") for s in report.get("recovery_suggestions") or []][:3]
            decided = (reports[-1].get("decision") or {}).get("kind", "none (gave up)")
            self.console.print(
                f"analyze-failure {workflow_id}: {len(reports)} error report(s); "
                f"{category}; ranked suggestions {ranked}; last decision {decided}"
            )
        listed = await self._ask("recovery", "LIST_CHECKPOINTS", workflow_id, {})
        phase_done = [
            c for c in listed.get("checkpoints", []) if c.get("checkpoint_type") == "phase_complete"
        ]
        if not phase_done:
            raise DemoFailedError(
                f"{workflow_id}: no phase_complete checkpoint to restore",
                workflows={workflow_id: "FAILED"},
            )
        checkpoint = phase_done[-1]["checkpoint_id"]
        self.workforce.breaking = False  # the "alternative approach" of seed 002
        restored = await self._ask(
            "recovery", "RESTORE", workflow_id, {"checkpoint_id": checkpoint}
        )
        self.console.print(f"restore {checkpoint}: hash {restored.get('verified_hash')}")
        # FAILED was already seen (it precedes WORKFLOW_RESTORED on the workflow's
        # partition), so from here on only the restored run's events arrive.
        self.tracker.rows[workflow_id].status = "RESTORING"

    async def _ask(
        self, service: str, event_type: str, workflow_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        reply = await self.bus.request(
            Event(event_type=event_type, workflow_id=workflow_id, phase="demo", data=data),
            service=service,
            timeout=30,
        )
        result: dict[str, Any] = reply.data
        return result

    async def _until(self, done: Any, *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                states = {w: r.status for w, r in self.tracker.rows.items()}
                raise DemoFailedError(f"waited {timeout:g}s for {what}", workflows=states)
            await asyncio.sleep(0.1)


async def _show_dead_letter(*, bus: Bus, console: Console) -> None:
    """Bad input is kept, never dropped: a malformed line lands in the dead-letter topic."""
    console.rule("[bold]Bad input is kept")
    await bus.send_raw(bus.topics.events, key=b"impl_auth_001", value=MALFORMED, headers=[])
    dlq = bus.topics.dlq(bus.topics.events)
    for _ in range(100):
        letters = [
            d
            for d in await read_dead_letters(transport=bus.transport, topic=dlq)
            if d.record.value == MALFORMED
        ]
        if letters:
            info = letters[-1].to_dict()
            console.print(
                f"{MALFORMED.decode()} → {dlq}: {info['error']['class']} "
                f"({info['error']['part']}): {info['error']['message']}"
            )
            return
        await asyncio.sleep(0.1)
    console.print(f"[yellow]the malformed line is not in {dlq} yet[/]")


def _summary(tracker: Tracker) -> list[dict[str, Any]]:
    return [
        {
            "workflow_id": row.workflow_id,
            "scenario": row.scenario,
            "status": row.status,
            "duration_s": None if row.duration is None else round(row.duration, 2),
            "phases": f"{len(row.phases_done)}/{len(row.phases)}",
            "tasks_completed": row.tasks_done,
            "retries": row.retries,
            "task_failures": row.failures,
            "queued": row.was_queued,
            "restored": row.restored,
        }
        for row in tracker.rows.values()
    ]


def _summary_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Summary")
    for column in ("workflow", "scenario", "status", "duration", "phases", "retries", "notes"):
        table.add_column(column)
    for row in rows:
        notes = ", ".join(
            n
            for n, on in (
                ("was queued", row["queued"]),
                ("restored from checkpoint", row["restored"]),
            )
            if on
        )
        table.add_row(
            row["workflow_id"],
            row["scenario"],
            row["status"],
            "" if row["duration_s"] is None else f"{row['duration_s']:.1f}s",
            row["phases"],
            str(row["retries"]),
            notes,
        )
    return table

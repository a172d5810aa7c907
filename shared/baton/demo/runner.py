"""``baton demo``: the whole system running the demo scenarios.

Starts the five services as supervised processes (their logs prefixed by service), a few
agent workers, then runs the three scenarios of :mod:`baton.demo.scenarios` one after
the other with a live table, keeps a malformed line as a dead letter, and ends with a
summary per workflow and the dashboard's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import signal
import time
from collections.abc import Callable, Mapping
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
from baton.demo.summary import summary_rows, summary_table
from baton.demo.supervisor import ServiceSupervisor
from baton.demo.tracker import Tracker
from baton.errors import BatonError
from baton.logs import quiet_transient_kafka_errors
from baton.protocol.commands import CommandRequest, HubCommand, RecoveryCommand, request_data
from baton.protocol.commands.requests import CreateWorkflowRequest, RestoreRequest
from baton.protocol.event import Event
from baton.protocol.fields import TERMINAL_STATUSES

__all__ = ["DemoFailedError", "DemoOptions", "DemoStoppedError", "demo_env", "run_demo"]

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


class DemoStoppedError(BatonError):
    """SIGINT or SIGTERM arrived before the scenarios ended; everything was stopped."""

    exit_code = 130

    def __init__(self, message: str, *, signal_name: str, signal_number: int) -> None:
        super().__init__(message, signal=signal_name)
        self.signal_name = signal_name
        self.signal_number = signal_number


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """How the demo runs.

    Attributes:
        once: Stop everything when the scenarios end (else run until SIGINT or SIGTERM).
        scenario_timeout: Seconds each scenario may take.
        log_level: Log level of the five services.
        agents: Agent workers to run.
        table_width: Widest a live table's note may be; None: as wide as the text (for
            output that is not a terminal, where nothing should be cut or folded).
    """

    once: bool = False
    scenario_timeout: float = 180.0
    log_level: str = "WARNING"
    agents: int = 4
    table_width: int | None = 48


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
    """Run the demo; returns the summary rows.

    SIGINT and SIGTERM stop it cleanly: agents, client and services are stopped in order
    (no service outlives it). After the scenarios that is the normal end; before, it
    raises :class:`DemoStoppedError`.

    Raises:
        DemoFailedError: a workflow did not end as expected, or a scenario ran out of time.
        DemoStoppedError: a signal arrived before the scenarios ended.
    """
    quiet_transient_kafka_errors()
    main = asyncio.current_task()
    assert main is not None, "run_demo runs in a task"
    loop = asyncio.get_running_loop()
    received: list[signal.Signals] = []
    demo = _Demo(config=config, env=env, options=options, console=console)

    def on_signal(signum: signal.Signals) -> None:
        if not received:  # the first one stops the demo; later ones wait for that stop
            main.cancel()
            console.print(f"[bold]{signum.name}[/]: stopping agents and services...")
        received.append(signum)

    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await demo.run()
    except asyncio.CancelledError:
        if not received:
            raise
        main.uncancel()
        if demo.rows is not None:  # the scenarios had ended: stopping is the normal end
            return demo.rows
        raise DemoStoppedError(
            f"stopped by {received[0].name} before the scenarios ended",
            signal_name=received[0].name,
            signal_number=int(received[0]),
        ) from None
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class _Demo:
    config: BatonSettings
    env: Mapping[str, str]
    options: DemoOptions
    console: Console
    rows: list[dict[str, Any]] | None = None

    async def run(self) -> list[dict[str, Any]]:
        config, options, console = self.config, self.options, self.console
        tag = secrets.token_hex(2)
        log_dir = config.home / "demo" / "logs"
        children = demo_env(config=config, env=self.env, log_level=options.log_level)
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
            console.print(
                f"[bold]{options.agents} agent workers[/]: {', '.join(workforce.agent_ids)}"
            )
            runner = _Scenarios(
                bus=bus, tracker=tracker, workforce=workforce, tag=tag, console=console
            )
            table = functools.partial(tracker.table, note_width=options.table_width)
            try:
                with Live(table(), console=console, refresh_per_second=4) as live:
                    refresh = asyncio.create_task(_refresh(live, table))
                    try:
                        for scenario in SCENARIOS:
                            await _until_first(
                                runner.run(scenario, timeout=options.scenario_timeout),
                                supervisor.wait_failed(),
                            )
                    finally:
                        refresh.cancel()
                        live.update(table())
            finally:
                if not console.is_terminal:  # there the live view's last render ends mid-line
                    console.line()
            await _show_dead_letter(bus=bus, console=console)
            rows = summary_rows(tracker)
            console.print(summary_table(rows))
            failed = {r["workflow_id"]: r["status"] for r in rows if r["status"] != "COMPLETED"}
            if failed:
                raise DemoFailedError(f"workflows did not complete: {failed}", workflows=failed)
            self.rows = rows
            if options.once:  # the dashboard closes with the services, at once: no address
                console.print(
                    "Scenarios done; stopping (run without --once to keep the services and "
                    "the dashboard up)."
                )
                return rows
            dashboard = supervisor.url("status", "/")
            console.print(
                f"Dashboard: [bold]{dashboard}[/]   live events: .venv/bin/baton events tail '#'"
            )
            console.print("Running; Ctrl-C to stop (the dashboard stays up meanwhile).")
            await supervisor.wait_failed()
            return rows
        finally:
            logging.getLogger().removeHandler(own_log)
            if self.rows is None:  # stopped or failed midway: leave nothing holding the pool
                await _cancel_unfinished(client, tracker)
            await workforce.stop()
            await client.stop()
            await bus.stop()
            codes = await supervisor.stop()
            unclean = {name: code for name, code in codes.items() if code not in (0, None)}
            if unclean:
                console.print(f"[red]services exited uncleanly[/]: {unclean}")


async def _cancel_unfinished(client: BatonClient, tracker: Tracker) -> None:
    """Cancel the demo's workflows that have not ended, so that they release their agents
    (a next run would otherwise queue behind them)."""
    for workflow_id, row in tracker.rows.items():
        if row.status not in TERMINAL_STATUSES:
            with contextlib.suppress(BatonError):  # already ended, or the hub is gone
                await client.cancel_workflow(workflow_id, reason="demo stopped", timeout=5)


def _print_line(console: Console, source: str, line: str) -> None:
    # Text, not markup: log lines hold brackets ("[A-Za-z0-9_.-]") rich would try to parse.
    # Not wrapped: a terminal wraps long lines itself, a log file keeps them whole.
    console.print(Text.assemble((f"{source:>8} │ ", "magenta"), line), soft_wrap=True)


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


async def _refresh(live: Live, table: Callable[[], Table]) -> None:
    while True:
        live.update(table())
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
                "hub",
                HubCommand.CREATE_WORKFLOW,
                definition["workflow_id"],
                CreateWorkflowRequest(definition=definition),
            )
            self.console.print(f"created {definition['workflow_id']}: {reply.get('status', reply)}")
            # Workflows created together are independent requests that may reach the
            # resource manager in any order; the scenario shows the first one's agents
            # making the next one queue, so each waits for the previous one's answer.
            row = self.tracker.rows[definition["workflow_id"]]
            await self._until(
                lambda row=row: row.allocated_or_queued,
                timeout=timeout,
                what=f"the resource manager's answer for {row.workflow_id}",
            )
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
        analysis = await self._ask(
            "recovery", RecoveryCommand.ANALYZE_FAILURE, workflow_id, CommandRequest()
        )
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
        listed = await self._ask(
            "recovery", RecoveryCommand.LIST_CHECKPOINTS, workflow_id, CommandRequest()
        )
        phase_done = [
            c for c in listed.get("checkpoints", []) if c.get("checkpoint_type") == "phase_complete"
        ]
        if not phase_done:
            raise DemoFailedError(
                f"{workflow_id}: no phase_complete checkpoint to restore",
                workflows={workflow_id: "FAILED"},
            )
        checkpoint = phase_done[-1]["checkpoint_id"]
        self.workforce.breaking = False  # the "alternative approach" of the recovery scenario
        restored = await self._ask(
            "recovery",
            RecoveryCommand.RESTORE,
            workflow_id,
            RestoreRequest(checkpoint_id=checkpoint),
        )
        self.console.print(f"restore {checkpoint}: hash {restored.get('verified_hash')}")
        # FAILED was already seen (it precedes WORKFLOW_RESTORED on the workflow's
        # partition), so from here on only the restored run's events arrive.
        self.tracker.rows[workflow_id].status = "RESTORING"

    async def _ask(
        self, service: str, event_type: str, workflow_id: str, request: CommandRequest
    ) -> dict[str, Any]:
        data = request_data(request)
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

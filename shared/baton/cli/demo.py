"""``baton demo``: seed 002's event sequences flowing through the real broker.

Publishes the multi-workflow coordination and feature-development event sequences of
seed 002, shows every event as a subscriber receives it with its routing key, shows a
handler failure retried, and a malformed line kept as a dead letter with its reason.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from baton.bus import Bus
from baton.bus.deadletters import read_dead_letters
from baton.cli.common import run, settings
from baton.errors import HandlerError
from baton.protocol.event import Event

SCENARIO = [
    'WORKFLOW_CREATED:feature_dev_001:setup:{"priority":"high","resources":{"agents":3}}',
    'WORKFLOW_CREATED:bug_fix_002:setup:{"priority":"medium","resources":{"agents":2}}',
    'RESOURCE_ANALYSIS_REQUESTED:system:coordination:{"total_agents":5,"conflicts":false}',
    'WORKFLOW_SCHEDULED:feature_dev_001:ready:{"start_time":"immediate","estimated_completion":"4h"}',
    'WORKFLOW_QUEUED:bug_fix_002:waiting:{"queue_position":1,"estimated_start":"30m"}',
    'RESEARCH_STARTED:research_auth_001:research:{"agents":2,"estimated_duration":"2h"}',
    'RESEARCH_COMPLETED:research_auth_001:research:{"reports_generated":3,"insights":15}',
    'PLAN_STARTED:planning_auth_001:planning:{"context_preserved":true}',
    'PLAN_COMPLETED:planning_auth_001:planning:{"phases":5,"complexity":"high"}',
    'IMPLEMENTATION_STARTED:impl_auth_001:implementation:{"parallel_tracks":3}',
    'PHASE_COMPLETED:impl_auth_001:backend:{"duration":"45m","tests_passing":true}',
    'PHASE_COMPLETED:impl_auth_001:frontend:{"duration":"60m","tests_passing":true}',
    'PHASE_COMPLETED:impl_auth_001:database:{"duration":"30m","tests_passing":true}',
    'TESTING_COMPLETED:impl_auth_001:testing:{"coverage":95,"security_passed":true}',
    'WORKFLOW_COMPLETED:impl_auth_001:finalization:{"total_duration":"4h","success":true}',
]
MALFORMED = b"PHASE_COMPLETED:impl_auth_001:{'duration':'45m'}"


def demo(
    once: Annotated[bool, typer.Option("--once", help="Exit when the scenario has run.")] = False,
) -> None:
    """Publish seed 002's events, follow them, show a retry and a dead letter."""
    config = settings(component="demo")
    console = Console()

    async def main() -> None:
        bus = Bus(settings=config)
        ours: set[str] = set()
        handled: list[Event] = []
        failed_once: set[str] = set()

        all_handled = asyncio.Event()

        async def show(event: Event) -> None:
            if event.event_id not in ours:
                return
            if event.event_type == "WORKFLOW_QUEUED" and event.event_id not in failed_once:
                failed_once.add(event.event_id)
                console.print(f"  [yellow]handler failed on {event.event_type}, will retry[/]")
                raise HandlerError("demo: scheduler momentarily unavailable", retriable=True)
            findings = f"  [dim]{', '.join(event.findings)}[/]" if event.findings else ""
            console.print(f"  [green]{event.routing_key:<44}[/] {event.line}{findings}")
            handled.append(event)
            if len(handled) >= len(SCENARIO):
                all_handled.set()

        bus.subscribe("#", show, group=f"demo-{uuid.uuid4().hex[:8]}")
        async with bus:
            await bus.require_topics()
            console.rule("Publishing seed 002 events to " + bus.topics.events)
            for line in SCENARIO:
                event = Event.parse(line)
                ours.add(event.event_id)
                await bus.publish(event)
            await bus.send_raw(bus.topics.events, key=b"impl_auth_001", value=MALFORMED, headers=[])
            with console.status("waiting for every event to be handled..."):
                await all_handled.wait()
            dlq = bus.topics.dlq(bus.topics.events)
            letters = []
            for _ in range(100):
                letters = [
                    d
                    for d in await read_dead_letters(transport=bus.transport, topic=dlq)
                    if d.record.value == MALFORMED
                ]
                if letters:
                    break
                await asyncio.sleep(0.1)
            table = Table(title="Demo summary")
            table.add_column("what")
            table.add_column("count / detail")
            table.add_row("events published", str(len(SCENARIO)))
            table.add_row("events handled", str(len(handled)))
            table.add_row(
                "retried then handled",
                ", ".join(sorted(e.event_type for e in handled if e.event_id in failed_once)),
            )
            if letters:
                info = letters[-1].to_dict()
                table.add_row(
                    "dead letter",
                    f"{info['value']} → {info['error']['class']} "
                    f"({info['error']['part']}): {info['error']['message']}",
                )
            console.print(table)
            console.print("Follow live events with: [bold]baton events tail '#'[/]")
            if not once:
                console.print("Running; Ctrl-C to stop.")
                await asyncio.Event().wait()

    run(main)

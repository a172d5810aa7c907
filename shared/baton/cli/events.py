"""``baton events``: publish, tail and validate event lines."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import orjson
import typer

from baton.bus import Bus
from baton.bus.tail import tail
from baton.cli.common import EXIT, EXIT_CODES_HELP, HelperGroup, emit, fail, run, settings
from baton.errors import ProtocolError, RequestTimeoutError
from baton.protocol.event import Event
from baton.protocol.registry import EventRegistry
from baton.protocol.routing import Pattern

app = typer.Typer(
    cls=HelperGroup,
    help=f"Publish, follow and check events in the EVENT_TYPE:workflow_id:phase:data format. "
    f"{EXIT_CODES_HELP}",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds before giving up (exit 124).")]


def _event_json(event: Event, **extra: Any) -> dict[str, Any]:
    return {
        "line": event.line,
        "event_type": event.event_type,
        "workflow_id": event.workflow_id,
        "phase": event.phase,
        "data": event.data,
        "event_id": event.event_id,
        "timestamp": event.timestamp.isoformat(),
        "source": event.source,
        "routing_key": event.routing_key,
        "findings": list(event.findings),
        **extra,
    }


@app.command()
def publish(
    line: Annotated[str, typer.Argument(help="The event line, or '-' to read lines from stdin.")],
    topic: Annotated[
        str | None, typer.Option(help="Target topic (default: the events topic).")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Reject missing registered fields.")
    ] = False,
    timeout: Timeout = 30.0,
) -> None:
    """Publish event lines and wait for the broker's acknowledgement; prints one JSON per line.

    Example: .venv/bin/baton events publish "PHASE_COMPLETED:wf_001:impl:{'duration':'45m'}"
    """
    config = settings(strict=strict or None)
    lines = [ln for ln in sys.stdin.read().splitlines() if ln.strip()] if line == "-" else [line]
    events: list[Event] = []
    for index, text in enumerate(lines, 1):
        try:
            events.append(
                Event.parse(text.strip(), max_bytes=config.max_line_bytes, source=config.component)
            )
        except ProtocolError as exc:
            exc.fields["line_number"] = index
            raise fail(exc) from None

    async def main() -> None:
        try:
            async with asyncio.timeout(timeout), Bus(settings=config) as bus:
                await bus.require_topics([topic or bus.topics.events])
                for event in events:
                    ack = await bus.publish(event, topic=topic)
                    checked = bus.registry.check(event.event_type, event.data)
                    emit(
                        _event_json(
                            event,
                            topic=ack.topic,
                            partition=ack.partition,
                            offset=ack.offset,
                            findings=list(checked),
                        )
                    )
        except TimeoutError:
            raise RequestTimeoutError(f"publishing took longer than {timeout:g}s") from None

    run(main)


@app.command("tail")
def tail_command(
    pattern: Annotated[
        str, typer.Argument(help="Routing-key pattern: '*' one segment, '#' any.")
    ] = "#",
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest event.")
    ] = False,
    max_events: Annotated[
        int | None,
        typer.Option("--max", help="Stop after N matching events (malformed records don't count)."),
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Topic to follow (default: events).")] = None,
    as_json: JsonFlag = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Stop after S seconds; exit 124 if --max was not reached."),
    ] = None,
) -> None:
    """Follow events whose routing key matches PATTERN ('resource.*.allocated', 'workflow.#').

    A malformed record on the way is reported on stderr (as JSON, with its position) but
    matches no pattern, so it never counts toward --max.
    """
    config = settings()
    try:
        compiled = Pattern(pattern)
    except ProtocolError as exc:
        raise fail(exc) from None

    async def main() -> int:
        seen = 0
        async with Bus(settings=config) as bus:
            source = topic or bus.topics.events
            await bus.require_topics([source])
            try:
                async with asyncio.timeout(timeout):
                    async for item in tail(
                        transport=bus.transport,
                        topic=source,
                        pattern=compiled,
                        from_beginning=from_beginning,
                        max_bytes=config.max_line_bytes,
                    ):
                        where = {"partition": item.record.partition, "offset": item.record.offset}
                        if item.event is not None:
                            if as_json:
                                emit(_event_json(item.event, **where))
                            else:
                                emit(
                                    f"{item.event.routing_key:<40} {item.event.line}", as_json=False
                                )
                        elif item.error is not None:
                            raw = (item.record.value or b"").decode("utf-8", "replace")
                            sys.stderr.write(
                                orjson.dumps(
                                    {**item.error.to_dict(), **where, "value": raw}
                                ).decode()
                                + "\n"
                            )
                            continue  # a malformed record matches no pattern: not counted
                        seen += 1
                        if max_events is not None and seen >= max_events:
                            return EXIT.OK
            except TimeoutError:
                return EXIT.TIMEOUT if max_events is not None else EXIT.OK
        return EXIT.OK

    code = run(main)
    raise typer.Exit(code)


@app.command()
def validate(
    line: Annotated[str, typer.Argument(help="The event line to check.")],
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Missing registered fields are errors; unregistered types too."
        ),
    ] = False,
) -> None:
    """Check a line offline: exit 0 printing its normalised form, or 2 with the reason on stderr."""
    config = settings(strict=strict or None, refuse_unregistered=strict or None)
    registry = EventRegistry.from_settings(config)
    try:
        event = Event.parse(line.strip(), max_bytes=config.max_line_bytes)
        findings = registry.check(event.event_type, event.data)
    except ProtocolError as exc:
        raise fail(exc) from None
    emit(
        _event_json(
            event, findings=list(findings), registered=registry.is_registered(event.event_type)
        )
    )

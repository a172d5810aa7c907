"""``baton dlq``: list and replay dead letters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from baton.bus import Bus
from baton.bus.deadletters import DeadLetter, read_dead_letters, replay_dead_letters
from baton.cli.common import EXIT_CODES_HELP, HelperGroup, emit, run, settings
from baton.errors import BatonError

app = typer.Typer(
    cls=HelperGroup,
    help="Dead letters: records that could not be handled, kept with the reason. "
    + EXIT_CODES_HELP,
    no_args_is_help=True,
)

SourceOpt = Annotated[
    str | None,
    typer.Option("--source", help="Source topic whose dead letters to read (default: events)."),
]
ErrorOpt = Annotated[str | None, typer.Option("--error-class", help="Only this error class.")]
TypeOpt = Annotated[str | None, typer.Option("--event-type", help="Only lines of this type.")]
GroupOpt = Annotated[str | None, typer.Option("--group", help="Only this consumer group's.")]


def _filter(
    *, offsets: list[str], error_class: str | None, event_type: str | None, group: str | None
) -> tuple[bool, Callable[[DeadLetter], bool]]:
    wanted: set[tuple[int | None, int]] = set()
    for text in offsets:
        part, _, off = text.rpartition(":")
        try:
            wanted.add((int(part) if part else None, int(off)))
        except ValueError:
            raise BatonError(f"--offset {text!r} is not OFFSET or PARTITION:OFFSET") from None
    wanted_type = f"{event_type}:".encode() if event_type else None

    def where(letter: DeadLetter) -> bool:
        r = letter.record
        if wanted and (r.partition, r.offset) not in wanted and (None, r.offset) not in wanted:
            return False
        if error_class and letter.error_class != error_class:
            return False
        if group and letter.headers.get("baton-consumer-group") != group:
            return False
        return not (wanted_type and not (r.value or b"").startswith(wanted_type))

    return bool(wanted or error_class or event_type or group), where


@app.command("list")
def list_command(
    source: SourceOpt = None,
    error_class: ErrorOpt = None,
    event_type: TypeOpt = None,
    group: GroupOpt = None,
    limit: Annotated[int | None, typer.Option(help="At most N dead letters.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output for scripts.")] = False,
) -> None:
    """List dead letters with their original position, error and attempts."""
    config = settings()
    _, where = _filter(offsets=[], error_class=error_class, event_type=event_type, group=group)

    async def main() -> list[DeadLetter]:
        async with Bus(settings=config) as bus:
            topic = bus.topics.dlq(source or bus.topics.events)
            await bus.require_topics([topic])
            return await read_dead_letters(
                transport=bus.transport, topic=topic, where=where, limit=limit
            )

    letters = run(main)
    if as_json:
        emit([d.to_dict() for d in letters])
        return
    table = Table(title=f"{len(letters)} dead letter(s)")
    for column in ("dlq offset", "original", "group", "error", "attempts", "value"):
        table.add_column(column)
    for d in letters:
        info = d.to_dict()
        original = info["original"]
        table.add_row(
            f"{d.record.partition}:{d.record.offset}",
            f"{original['topic']}[{original['partition']}]@{original['offset']}",
            str(info["consumer_group"]),
            f"{info['error']['class']}: {info['error']['message']}",
            str(info["attempts"]),
            info["value"][:60],
        )
    Console().print(table)


@app.command()
def replay(
    offsets: Annotated[
        list[str],
        typer.Option("--offset", help="PARTITION:OFFSET (or OFFSET) of a dead letter; repeatable."),
    ] = [],  # noqa: B006
    source: SourceOpt = None,
    error_class: ErrorOpt = None,
    event_type: TypeOpt = None,
    group: GroupOpt = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be replayed.")
    ] = False,
) -> None:
    """Send dead letters back to their original topic, byte for byte (prints JSON).

    With message signing on, each is signed afresh with this process's key
    (BATON_SIGNING_KEY_ID), except letters that were quarantined: those keep their headers
    and are quarantined again.
    """
    config = settings()
    try:
        selective, where = _filter(
            offsets=offsets, error_class=error_class, event_type=event_type, group=group
        )
    except BatonError as exc:
        exc_code = 2
        raise typer.Exit(exc_code) from exc
    if not selective and not replay_all:
        typer.echo(
            "say which dead letters: --offset, --error-class, --event-type, --group or --all",
            err=True,
        )
        raise typer.Exit(2)

    async def main() -> dict[str, object]:
        async with Bus(settings=config) as bus:
            topic = bus.topics.dlq(source or bus.topics.events)
            await bus.require_topics([topic])
            letters = await read_dead_letters(transport=bus.transport, topic=topic, where=where)
            if dry_run:
                return {"would_replay": [d.to_dict() for d in letters]}
            acks = await replay_dead_letters(bus=bus, letters=letters)
            return {
                "replayed": [
                    {
                        "dlq": f"{d.record.partition}:{d.record.offset}",
                        "topic": a.topic,
                        "partition": a.partition,
                        "offset": a.offset,
                    }
                    for d, a in zip(letters, acks, strict=True)
                ]
            }

    emit(run(main))

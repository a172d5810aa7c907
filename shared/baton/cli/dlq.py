"""``baton dlq``: list and replay dead letters.

Every group that fails one source record keeps a copy; both commands show them as one dead
letter naming every failing group (:mod:`baton.bus.deadletters`), and a replay sends it once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from baton.bus import Bus
from baton.bus.deadletters import DeadLetter, read_dead_letters, replay_dead_letters
from baton.bus.transport import Record
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
GroupOpt = Annotated[
    str | None, typer.Option("--group", help="Only those this consumer group failed.")
]


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

    def picked(copy: Record) -> bool:
        return (copy.partition, copy.offset) in wanted or (None, copy.offset) in wanted

    def where(letter: DeadLetter) -> bool:
        if wanted and not any(picked(copy) for copy in letter.copies):
            return False
        failures = letter.failures()
        if error_class and all(f["error"]["class"] != error_class for f in failures):
            return False
        if group and group not in letter.groups:
            return False
        return not (wanted_type and not (letter.record.value or b"").startswith(wanted_type))

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
    """List dead letters with their original position, error and attempts.

    One line per bad source record, naming every consumer group that failed it.
    """
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
    for column in ("dlq offset", "original", "groups", "error", "attempts", "value"):
        table.add_column(column)
    for d in letters:
        info = d.to_dict()
        original = info["original"]
        table.add_row(
            f"{d.record.partition}:{d.record.offset}",
            f"{original['topic']}[{original['partition']}]@{original['offset']}",
            ", ".join(d.groups),
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

    Each bad record is sent once, however many groups failed it. It keeps its key and goes
    to the partition Baton's partitioner gives that key — where the workflow's other events
    go — even if another client had put it elsewhere.

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
                        "id": d.id,
                        "dlq": f"{d.record.partition}:{d.record.offset}",
                        "groups": list(d.groups),
                        "key": (d.record.key or b"").decode("utf-8", "replace"),
                        "topic": a.topic,
                        "partition": a.partition,
                        "offset": a.offset,
                    }
                    for d, a in zip(letters, acks, strict=True)
                ]
            }

    emit(run(main))

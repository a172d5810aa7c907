"""`baton topics`: create Baton's Kafka topics and see which exist."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer

from baton.cli.common import HelperGroup, emit, run, settings
from baton.topics import create_topics, describe_topics, list_topics, topic_specs

__all__ = ["app"]

app = typer.Typer(
    cls=HelperGroup,
    help=(
        "Baton's Kafka topics: events, state (compacted), replies, one commands topic per "
        "service, and retry and dead-letter topics for each of those. Names start with "
        "BATON_TOPIC_PREFIX (default `baton`); the broker is BATON_KAFKA_BOOTSTRAP or the "
        "local stack's."
    ),
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(value) for value in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


CREATE_HELP = (
    "Create every topic that does not exist yet; existing ones are left as they are.\n\n"
    "Each topic gets explicit partitions (BATON_PARTITIONS), replication "
    "(BATON_REPLICATION), retention and cleanup policy. Safe to run any number of times; "
    "prints each topic with `created` or `exists`."
)
LIST_HELP = (
    "List the topics under BATON_TOPIC_PREFIX with partitions, cleanup policy and "
    "retention.\n\nAlso names the topics that `.venv/bin/baton topics create` would add."
)


@app.command(help=CREATE_HELP)
def create(as_json: JsonOption = False) -> None:
    """Create every missing topic."""
    config = settings()
    rows = run(lambda: create_topics(settings=config))
    if as_json:
        emit(rows)
        return
    table = _table(
        ["TOPIC", "STATUS", "PARTITIONS", "CLEANUP"],
        [[r["topic"], r["status"], r["partitions"], r["cleanup_policy"]] for r in rows],
    )
    created = sum(1 for r in rows if r["status"] == "created")
    summary = f"{created} created, {len(rows) - created} already existed on {config.bootstrap}"
    emit(f"{table}\n\n{summary}", as_json=False)


@app.command("list", help=LIST_HELP)
def list_(
    as_json: JsonOption = False,
    all_topics: Annotated[
        bool, typer.Option("--all", help="Every topic of the broker, not only this prefix's.")
    ] = False,
) -> None:
    """List this deployment's topics."""
    config = settings()
    prefix = f"{config.topic_prefix}."
    expected = [spec.name for spec in topic_specs(config)]

    async def main() -> tuple[list[dict[str, Any]], list[str]]:
        security = config.kafka_security
        names = await list_topics(bootstrap=config.bootstrap, security=security)
        shown = [n for n in names if all_topics or n.startswith(prefix)]
        details = await describe_topics(bootstrap=config.bootstrap, names=shown, security=security)
        return details, [name for name in expected if name not in names]

    details, missing = run(main)
    rows = [
        {
            "topic": d["topic"],
            "partitions": d["partitions"],
            "cleanup_policy": d["config"].get("cleanup.policy"),
            "retention_ms": d["config"].get("retention.ms"),
        }
        for d in details
    ]
    if as_json:
        emit({"bootstrap": config.bootstrap, "topics": rows, "missing": missing})
        return
    text = _table(
        ["TOPIC", "PARTITIONS", "CLEANUP", "RETENTION_MS"],
        [[r["topic"], r["partitions"], r["cleanup_policy"], r["retention_ms"]] for r in rows],
    )
    if missing:
        create = "`.venv/bin/baton topics create`"
        text += f"\n\nmissing ({len(missing)}; run {create}): " + ", ".join(missing)
    emit(text, as_json=False)

"""`baton acl`: Baton's Kafka ACLs for a real cluster."""

from __future__ import annotations

from typing import Annotated, Literal

import typer
import yaml
from pydantic import ValidationError

from baton.cli.common import HelperGroup, emit, fail, settings
from baton.errors import BadInputError
from baton.security.acl_plan import AclPlan

__all__ = ["app"]

app = typer.Typer(
    cls=HelperGroup,
    help=(
        "Baton's Kafka ACLs: one principal per service and one for clients and agents, "
        "each allowed its own topics, groups and transactional ids (docs/security.md)."
    ),
    no_args_is_help=True,
)

PLAN_HELP = (
    "Print the ACLs a secured cluster needs for this deployment (BATON_TOPIC_PREFIX).\n\n"
    "`--format strimzi` (default): one Strimzi KafkaUser (kafka.strimzi.io/v1beta2, "
    "SCRAM-SHA-512, simple authorization) per principal, for `kubectl apply -f -`. "
    "`--format kafka-acls`: one `kafka-acls.sh --add` line per resource, to run with an "
    "admin's --command-config. `--json`: the plan itself. The local secured broker "
    "(`.venv/bin/baton stack secure up`) applies this same plan, without a principal prefix."
)

Format = Literal["strimzi", "kafka-acls"]


@app.command("plan", help=PLAN_HELP)
def plan(
    principal_prefix: Annotated[
        str,
        typer.Option(help="Start of every principal's user name (`baton-` → User:baton-hub)."),
    ] = "",
    output: Annotated[Format, typer.Option("--format", help="strimzi or kafka-acls.")] = "strimzi",
    cluster: Annotated[
        str, typer.Option(help="The Strimzi Kafka cluster (label strimzi.io/cluster).")
    ] = "my-cluster",
    bootstrap_server: Annotated[
        str | None,
        typer.Option(help="kafka-acls.sh --bootstrap-server; default BATON_KAFKA_BOOTSTRAP."),
    ] = None,
    command_config: Annotated[
        str | None, typer.Option(help="kafka-acls.sh --command-config: the admin's properties.")
    ] = None,
    topic_prefix: Annotated[
        str | None, typer.Option(help="Topic prefix; default BATON_TOPIC_PREFIX.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    config = settings(topic_prefix=topic_prefix)
    try:
        acls = AclPlan.build(topic_prefix=config.topic_prefix, principal_prefix=principal_prefix)
    except ValidationError:
        raise fail(
            BadInputError(
                f"--principal-prefix {principal_prefix!r}: lowercase letters, digits, '-' "
                "and '.', starting with a letter or digit (a KafkaUser's name)",
                field="--principal-prefix",
            )
        ) from None
    if as_json:
        emit(acls.summary())
    elif output == "strimzi":
        docs = acls.kafka_users(cluster=cluster)
        emit(yaml.safe_dump_all(docs, sort_keys=False).rstrip("\n"), as_json=False)
    else:
        lines = acls.kafka_acls_lines(
            bootstrap=bootstrap_server or config.bootstrap, command_config=command_config
        )
        emit(lines.rstrip("\n"), as_json=False)

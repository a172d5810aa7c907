"""`baton stack`: the local Kafka broker and PostgreSQL server for development and tests."""

from __future__ import annotations

import logging
import shlex
import sys
from typing import Annotated

import typer

from baton.cli.common import HelperGroup, emit, run, settings
from baton.config import BatonSettings
from baton.logs import log_formatter
from baton.stack import ServiceReport, Stack, StackReport
from baton.stack.kafka import MAX_BROKERS, KafkaStack
from baton.stack.secure_kafka import ADMIN, SecureKafkaStack

__all__ = ["app"]

app = typer.Typer(
    cls=HelperGroup,
    help=(
        "Local development stack: an Apache Kafka broker (KRaft), or a cluster of them, and "
        "a PostgreSQL server. Services configured with BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN "
        "are used when they answer; otherwise local ones are started, with jars, data and "
        "logs under BATON_HOME (default ~/.cache/baton), the first broker on "
        "BATON_STACK_KAFKA_PORT (default 19092)."
    ),
    no_args_is_help=True,
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the report as JSON instead of a table.")
]


def _progress(config: BatonSettings) -> None:
    """Show the stack's progress messages on stderr (stdout stays for the result)."""
    logger = logging.getLogger("baton.stack")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            log_formatter(settings=config, text="%(asctime)s %(message)s", datefmt="%H:%M:%S")
        )
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(config.log_level)


def _line(report: ServiceReport) -> str:
    if report.source == "configured":
        who = "configured by " + (
            "BATON_KAFKA_BOOTSTRAP" if report.name == "kafka" else "BATON_PG_DSN"
        )
    elif report.detail:
        who = report.detail
    elif report.pid:
        who = f"local stack, pid {report.pid}"
    elif report.state == "stopped" and report.action is None:
        who = "local stack, not running: start it with `.venv/bin/baton stack up`"
    else:
        who = "local stack"
    facts = [fact for fact in (report.action, who) if fact]
    if report.log and report.managed:
        facts.append(f"log {report.log}")
    line = f"{report.name:<9} {report.state:<11} {report.endpoint}\n{'':<10}{', '.join(facts)}"
    if len(report.brokers) > 1:
        line += "".join(
            f"\n{'':<10}broker {b.node}: {b.state:<8} {b.endpoint}"
            + (f", pid {b.pid}" if b.pid else "")
            + f", log {b.log}"
            for b in report.brokers
        )
    return line


def _show(report: StackReport, *, as_json: bool, hint: bool = False) -> None:
    if as_json:
        emit(report.model_dump(mode="json"))
        return
    body = "\n".join(_line(service) for service in report.services)
    if hint:
        body += (
            "\n\nBaton uses these endpoints unless BATON_KAFKA_BOOTSTRAP / BATON_PG_DSN say "
            'otherwise; to export them: eval "$(.venv/bin/baton stack env)"'
        )
    emit(body, as_json=False)


UP_HELP = (
    "Start the local stack, or reuse what already runs.\n\n"
    "One Kafka broker by default; --brokers 3 starts a cluster of three KRaft nodes (each "
    "broker and controller; node n on BATON_STACK_KAFKA_PORT + 10(n-1)), on which "
    "`.venv/bin/baton topics create` makes topics with replication 3 and min.insync.replicas 2. A "
    "plain `up` reuses what this BATON_HOME last ran, and restarts a node of it that died.\n\n"
    "The first run fetches the Kafka jars with Maven (under a minute, cached under "
    "BATON_HOME) and creates a PostgreSQL cluster; later runs need no network and start in "
    "seconds. Needs Java 17+, Maven (first run only) and the PostgreSQL server binaries "
    "(installed with apt-get when missing and running as root). Progress goes to stderr, "
    "the report to stdout."
)
DOWN_HELP = (
    "Stop what `.venv/bin/baton stack up` started; leave configured and foreign services alone.\n\n"
    "Data is kept, so the next `up` finds the same topics and database. Safe to repeat."
)
ENV_HELP = (
    "Print `export BATON_...=...` lines for the endpoints in use.\n\n"
    'For other shells and tools: eval "$(.venv/bin/baton stack env)"'
)


BrokersOption = Annotated[
    int | None,
    typer.Option(
        "--brokers",
        min=1,
        max=MAX_BROKERS,
        help="Local Kafka brokers; default: as many as this BATON_HOME last ran, else 1.",
    ),
]


@app.command(help=UP_HELP)
def up(as_json: JsonOption = False, brokers: BrokersOption = None) -> None:
    """Start the local stack, or reuse what already runs."""
    config = settings()
    _progress(config)
    report = run(lambda: Stack(settings=config).up_async(brokers=brokers))
    _show(report, as_json=as_json, hint=True)


@app.command(help=DOWN_HELP)
def down(as_json: JsonOption = False) -> None:
    """Stop what `.venv/bin/baton stack up` started."""
    config = settings()
    _progress(config)
    report = run(lambda: Stack(settings=config).down_async())
    _show(report, as_json=as_json)


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Report Kafka and PostgreSQL: configured or local, running or stopped, endpoints."""
    config = settings()
    report = run(lambda: Stack(settings=config).status_async())
    _show(report, as_json=as_json)


@app.command(help=ENV_HELP)
def env() -> None:
    """Print `export` lines for the endpoints in use."""
    config = settings()
    kafka = KafkaStack(settings=config)
    # Every broker of a local cluster: clients still start when the first one is down.
    bootstrap = config.bootstrap if kafka.configured else kafka.layout.bootstrap
    lines = {"BATON_KAFKA_BOOTSTRAP": bootstrap, "BATON_PG_DSN": config.dsn}
    emit("\n".join(f"export {k}={shlex.quote(v)}" for k, v in lines.items()), as_json=False)


secure = typer.Typer(
    cls=HelperGroup,
    help=(
        "A second local broker in production mode: SASL/SCRAM-SHA-512 over TLS on "
        "127.0.0.1:19094, a local CA (openssl), one SCRAM user per service plus admin "
        "(passwords in files under BATON_HOME/kafka-secure/secrets), StandardAuthorizer with "
        "prefixed ACLs per service for BATON_TOPIC_PREFIX. The plaintext broker is untouched."
    ),
    no_args_is_help=True,
)
app.add_typer(secure, name="secure")


def _secure_stack() -> SecureKafkaStack:
    config = settings()
    _progress(config)
    return SecureKafkaStack(settings=config)


@secure.command("up")
def secure_up() -> None:
    """Start the secured broker (or reuse it) and apply the service ACLs; JSON report."""
    stack = _secure_stack()
    emit(run(stack.up).model_dump(mode="json"))


@secure.command("down")
def secure_down() -> None:
    """Stop the secured broker (data, users and certificates are kept); JSON report."""
    stack = _secure_stack()
    emit(run(stack.down).model_dump(mode="json"))


@secure.command("status")
def secure_status() -> None:
    """Whether the secured broker runs and answers its admin; JSON report."""
    stack = _secure_stack()
    emit(run(stack.status).model_dump(mode="json"))


@secure.command("env")
def secure_env(
    user: Annotated[
        str,
        typer.Argument(
            help="Principal: hub, resource, status, monitor, recovery, "
            "client (clients and agents), admin."
        ),
    ] = ADMIN,
) -> None:
    """Print `export` lines that connect a process as USER (password by file, never shown).

    eval "$(.venv/bin/baton stack secure env hub)" && .venv/bin/baton serve hub
    """
    lines = _secure_stack().env(user=user)
    emit("\n".join(f"export {k}={shlex.quote(v)}" for k, v in lines.items()), as_json=False)

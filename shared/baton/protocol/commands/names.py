"""The commands each service answers on its commands topic, and the name of their replies.

Every request is an event whose ``event_type`` names a command of the service it is sent
to; the reply's type is the command's name with ``_REPLY`` appended. Senders and services
name commands through these enums (a member is the string itself), so a command is
spelled in one place only.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final, TypeVar

from baton.errors import HandlerError

__all__ = [
    "COMMANDS",
    "REPLY_SUFFIX",
    "HubCommand",
    "MonitorCommand",
    "RecoveryCommand",
    "ResourceCommand",
    "StatusCommand",
    "command_of",
    "dispatch",
    "reply_type",
    "unknown_command",
]

REPLY_SUFFIX: Final = "_REPLY"
"""Appended to a command's name to give the type of its reply."""


class HubCommand(StrEnum):
    """Request types the coordination hub answers."""

    CREATE_WORKFLOW = "CREATE_WORKFLOW"
    START_PHASE = "START_PHASE"
    ASSIGN_AGENTS = "ASSIGN_AGENTS"
    PAUSE = "PAUSE_WORKFLOW"
    RESUME = "RESUME_WORKFLOW"
    CANCEL = "CANCEL_WORKFLOW"
    GET = "GET_WORKFLOW"
    LIST = "LIST_WORKFLOWS"
    SIGNAL = "SEND_SIGNAL"
    SIGNALS = "GET_SIGNALS"
    UPDATE_CONTEXT = "UPDATE_CONTEXT"
    GET_CONTEXT = "GET_CONTEXT"
    QUALITY_SCORE = "REPORT_QUALITY_SCORE"
    SATISFY_DEPENDENCY = "SATISFY_DEPENDENCY"
    CHECKPOINT = "CHECKPOINT_WORKFLOW"
    RECOVER_TASK = "RECOVER_TASK"
    RESTORE_CHECKPOINT = "RESTORE_CHECKPOINT"


class ResourceCommand(StrEnum):
    """Request types the resource manager answers."""

    ALLOCATE = "ALLOCATE"
    RELEASE = "RELEASE"
    CANCEL_REQUEST = "CANCEL_REQUEST"
    RENEW = "RENEW"
    STATUS = "RESOURCE_STATUS"
    TRANSITION = "TRANSITION"


class StatusCommand(StrEnum):
    """Request types the status service answers."""

    WORKFLOW = "WORKFLOW_STATUS"
    OVERVIEW = "SYSTEM_OVERVIEW"
    LIST = "LIST_STATUS"


class MonitorCommand(StrEnum):
    """Request types the performance monitor answers."""

    REPORT = "MONITOR_REPORT"
    HEALTH = "MONITOR_HEALTH"
    WINDOWS = "MONITOR_WINDOWS"


class RecoveryCommand(StrEnum):
    """Request types workflow recovery answers (each for one workflow)."""

    LIST_CHECKPOINTS = "LIST_CHECKPOINTS"
    ANALYZE_FAILURE = "ANALYZE_FAILURE"
    RESTORE = "RESTORE"


COMMANDS: Final[Mapping[str, type[StrEnum]]] = {
    "hub": HubCommand,
    "resource": ResourceCommand,
    "status": StatusCommand,
    "monitor": MonitorCommand,
    "recovery": RecoveryCommand,
}
"""Service name → the commands it answers."""

C = TypeVar("C", bound=StrEnum)
H = TypeVar("H")


def reply_type(command: str) -> str:
    """The event type of the reply to ``command``."""
    return f"{command}{REPLY_SUFFIX}"


def unknown_command(*, service: str, event_type: str, known: type[StrEnum]) -> HandlerError:
    """The refusal of a request type ``service`` does not answer, naming those it does."""
    return HandlerError(
        f"unknown {service} command {event_type}; known: {', '.join(c.value for c in known)}",
        retriable=False,
        part="event_type",
    )


def command_of(kind: type[C], *, service: str, event_type: str) -> C:
    """``event_type`` as a command of ``kind``.

    Raises:
        HandlerError: not a command of ``kind`` (not retriable).
    """
    try:
        return kind(event_type)
    except ValueError:
        raise unknown_command(service=service, event_type=event_type, known=kind) from None


def dispatch(handlers: Mapping[C, H], *, kind: type[C], service: str, event_type: str) -> H:
    """The handler ``handlers`` gives the command ``event_type``.

    Raises:
        HandlerError: not a command of ``kind`` (not retriable).
    """
    return handlers[command_of(kind, service=service, event_type=event_type)]

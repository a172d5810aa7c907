"""Errors of the coordination hub's domain logic.

All are :class:`~baton.errors.BatonError` subclasses and never retriable: repeating the same
operation on the same state fails the same way, so a handler should dead-letter the command
with the error's fields rather than retry it.
"""

from __future__ import annotations

from typing import Any

from baton.errors import BatonError

__all__ = ["HubError", "InvalidInputError", "InvalidTransition", "UnknownItemError"]


class HubError(BatonError):
    """Root of the hub's domain errors."""


class InvalidTransition(HubError):
    """An operation the workflow's current status does not allow.

    Args:
        message: What was refused and why.
        workflow_id: The workflow.
        status: Its current status.
        operation: The refused operation, e.g. ``resume``.
    """

    def __init__(
        self, message: str, *, workflow_id: str, status: str, operation: str, **fields: Any
    ) -> None:
        super().__init__(
            message, workflow_id=workflow_id, status=status, operation=operation, **fields
        )
        self.workflow_id = workflow_id
        self.status = status
        self.operation = operation


class UnknownItemError(HubError):
    """A task, phase or dependency the workflow does not have (bad input).

    Args:
        message: What was not found.
        workflow_id: The workflow.
        kind: ``task``, ``phase`` or ``dependency``.
        name: The name that was asked for.
    """

    exit_code = 2

    def __init__(self, message: str, *, workflow_id: str, kind: str, name: str) -> None:
        super().__init__(message, workflow_id=workflow_id, kind=kind, name=name)
        self.workflow_id = workflow_id
        self.kind = kind
        self.name = name


class InvalidInputError(HubError):
    """An argument the operation cannot use (bad input), naming it.

    Args:
        message: What is wrong.
        workflow_id: The workflow.
        field: The argument, e.g. ``label``.
    """

    exit_code = 2

    def __init__(self, message: str, *, workflow_id: str, field: str) -> None:
        super().__init__(message, workflow_id=workflow_id, field=field)
        self.workflow_id = workflow_id
        self.field = field

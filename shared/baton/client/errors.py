"""Errors of the client package; each derives from :class:`baton.errors.BatonError`."""

from __future__ import annotations

from typing import Any

from baton.errors import BatonError

__all__ = ["ClientError", "TaskRejectedError"]


class ClientError(BatonError):
    """The client was used in a way it cannot serve (not started, a group given twice...).

    Attributes:
        component: The client's component name.
    """

    exit_code = 2

    def __init__(self, message: str, *, component: str, **fields: Any) -> None:
        super().__init__(message, component=component, **fields)
        self.component = component


class TaskRejectedError(BatonError):
    """A task's handler returned something that is not a result (a mapping or TaskResult).

    Reported to the hub as the task's failure, like any exception of the handler.
    """

    def __init__(self, message: str, *, workflow_id: str, task_id: str) -> None:
        super().__init__(message, workflow_id=workflow_id, task_id=task_id)
        self.workflow_id = workflow_id
        self.task_id = task_id

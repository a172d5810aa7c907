"""Errors of the client package; each derives from :class:`baton.errors.BatonError`."""

from __future__ import annotations

from typing import Any

from baton.errors import BatonError

__all__ = ["ClientError", "StepFailedError", "StrategyError", "TaskRejectedError"]


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


class StepFailedError(BatonError):
    """A pipeline step raised; the checkpoint keeps the steps done before it.

    Attributes:
        step: Name of the step.
        number: Its 1-based position.
    """

    def __init__(self, message: str, *, step: str, number: int) -> None:
        super().__init__(message, step=step, number=number)
        self.step = step
        self.number = number


class StrategyError(BatonError):
    """No strategy of a route produced a result.

    Attributes:
        route: The name asked for.
        errors: Strategy name → why it failed.
    """

    def __init__(self, message: str, *, route: str, errors: dict[str, str]) -> None:
        super().__init__(message, route=route, errors=errors)
        self.route = route
        self.errors = errors

"""Errors of the recovery service's domain logic.

All are :class:`~baton.errors.BatonError` subclasses and never retriable: corrupt or
inconsistent stored data, or bad input, fails the same way when read again, so a handler
should dead-letter the command with the error's fields rather than retry it.
"""

from __future__ import annotations

from typing import Any

from baton.errors import BatonError

__all__ = [
    "CheckpointChainError",
    "CorruptCheckpointError",
    "InvalidStateError",
    "RecoveryError",
    "UnknownTaskError",
]


class RecoveryError(BatonError):
    """Root of the recovery service's domain errors."""


class CorruptCheckpointError(RecoveryError):
    """Stored checkpoint data that does not match its hash or cannot be decoded.

    Args:
        message: What is wrong.
        checkpoint_id: The checkpoint.
        expected: The hash recorded for it, when the data decoded far enough to compare.
        actual: The hash of the data found.
    """

    def __init__(
        self,
        message: str,
        *,
        checkpoint_id: str,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        super().__init__(message, checkpoint_id=checkpoint_id, expected=expected, actual=actual)
        self.checkpoint_id = checkpoint_id
        self.expected = expected
        self.actual = actual


class CheckpointChainError(RecoveryError):
    """A chain of differential checkpoints that cannot be followed back to a full one.

    Args:
        message: What is missing or wrong.
        checkpoint_id: The checkpoint where the chain breaks.
    """

    def __init__(self, message: str, *, checkpoint_id: str, **fields: Any) -> None:
        super().__init__(message, checkpoint_id=checkpoint_id, **fields)
        self.checkpoint_id = checkpoint_id


class InvalidStateError(RecoveryError):
    """A state that is not JSON-ready data (bad input), naming where.

    Args:
        message: What is wrong.
        path: Keys and indexes from the root to the offending value.
    """

    exit_code = 2

    def __init__(self, message: str, *, path: list[str | int]) -> None:
        super().__init__(message, path=path)
        self.path = path


class UnknownTaskError(RecoveryError):
    """A task the dependency graph does not have (bad input).

    Args:
        message: What was not found.
        task_id: The task asked for.
    """

    exit_code = 2

    def __init__(self, message: str, *, task_id: str) -> None:
        super().__init__(message, task_id=task_id)
        self.task_id = task_id

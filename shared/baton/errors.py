"""One exception root for Baton.

Every error Baton raises derives from :class:`BatonError`. Subclasses carry structured
fields and a ``retriable`` flag; the bus decides between retry and dead letter from that
flag alone, never from the message text.
"""

from __future__ import annotations

from typing import Any, ClassVar

BAD_INPUT_EXIT = 2
"""Exit code of bad input; an error class with it is the caller's mistake, never retriable."""

__all__ = [
    "BAD_INPUT_EXIT",
    "BadInputError",
    "BatonError",
    "ConfigError",
    "DependencyUnavailableError",
    "ErrorReply",
    "HandlerError",
    "MissingTopicError",
    "ProtocolError",
    "RemoteError",
    "RequestTimeoutError",
    "StackError",
    "WriteConflictError",
]


class BatonError(Exception):
    """Root of every Baton error.

    Attributes:
        retriable: True when the same operation may succeed if tried again.
        exit_code: Process exit code the CLI uses for this error.
    """

    retriable: ClassVar[bool] = False
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = fields

    @property
    def bad_input(self) -> bool:
        """Whether the caller's input is at fault (the CLI exits 2, also for a service's
        answer)."""
        return self.exit_code == BAD_INPUT_EXIT

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: class, message and structured fields."""
        return {"error": type(self).__name__, "message": self.message, **self.fields}

    def to_reply(self) -> dict[str, Any]:
        """The data of an error reply: :meth:`to_dict` plus ``retriable`` and ``bad_input``,
        which the requester's retries and exit code go by."""
        return {**self.to_dict(), "retriable": self.retriable, "bad_input": self.bad_input}


class ProtocolError(BatonError):
    """A line, header or message that does not follow the Baton protocol.

    Attributes:
        part: Which part of the input is wrong (``event_type``, ``workflow_id``, ``phase``,
            ``data``, ``data.<field>``, ``line``, ``header.<name>``...).
        position: Character offset into the line, when known.
    """

    exit_code = 2

    def __init__(self, message: str, *, part: str, position: int | None = None, **fields: Any):
        super().__init__(message, part=part, position=position, **fields)
        self.part = part
        self.position = position

    def __str__(self) -> str:
        where = f" at character {self.position}" if self.position is not None else ""
        return f"{self.part}{where}: {self.message}"


class BadInputError(BatonError):
    """Input an operation cannot take, naming every wrong field and what it accepts.

    Never retriable: the same input fails the same way.

    Args:
        message: Every problem, in one line.
        field: The first wrong field, as a path (``definition.tasks[1].phase``).
        problems: Every wrong field: ``{"field", "message"}`` each (and pydantic's error
            ``type`` when it found it); just ``field`` and ``message`` when not given.
    """

    exit_code = BAD_INPUT_EXIT

    def __init__(
        self,
        message: str,
        *,
        field: str,
        problems: list[dict[str, str]] | None = None,
        **fields: Any,
    ) -> None:
        listed = problems if problems is not None else [{"field": field, "message": message}]
        super().__init__(message, field=field, problems=listed, **fields)
        self.field = field
        self.problems = listed


class ConfigError(BatonError):
    """Configuration that is missing or invalid; names the environment variable.

    Attributes:
        variable: The variable at fault (``BATON_PARTITIONS``), when one is; also in
            ``fields`` with what is wrong (``problem``) and, for an unknown name, the
            nearest known one (``suggestion``).
    """

    exit_code = 2

    def __init__(self, message: str, *, variable: str | None = None, **fields: Any) -> None:
        if variable is not None:
            fields["variable"] = variable
        super().__init__(message, **fields)
        self.variable = variable


class MissingTopicError(BatonError):
    """A topic the component needs does not exist on the broker."""

    def __init__(self, message: str, *, topics: list[str]) -> None:
        super().__init__(message, topics=topics)
        self.topics = topics


class DependencyUnavailableError(BatonError):
    """Kafka, PostgreSQL or another dependency cannot be reached right now."""

    retriable = True


class WriteConflictError(BatonError):
    """A write found the rows it was computed from changed meanwhile (another replica wrote
    them), or two writers waited for each other: nothing was written; read and try again."""

    retriable = True


class HandlerError(BatonError):
    """Raised by event handlers; ``retriable`` is chosen per instance.

    Args:
        message: What went wrong.
        retriable: Whether the bus should retry the event (True) or dead-letter it.
    """

    def __init__(self, message: str, *, retriable: bool, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.retriable = retriable  # type: ignore[misc]  # instance override of the class default


class RemoteError(BatonError):
    """A request was answered with an error response.

    Retriable, and bad input (exit 2), when the reply says so; else an error response
    (exit 1). A caller decides by attribute: ``retriable``, and ``error_type``, the class
    name of the remote error (``HandlerError``, ``UnknownItemError``...).
    """

    exit_code = 1

    def __init__(self, message: str, *, error: dict[str, Any]) -> None:
        super().__init__(message, remote=error)
        self.error = error
        self.error_type = str(error.get("error") or "BatonError")
        # Instance overrides of the class defaults, from the reply's own flags.
        self.retriable = error.get("retriable") is True  # type: ignore[misc]
        if error.get("bad_input") is True:
            self.exit_code = BAD_INPUT_EXIT  # type: ignore[misc]


class ErrorReply(BatonError):
    """Raised by a responder to answer a request with exactly this error payload.

    Used to repeat a stored error reply (the payload keeps the original error class).
    """

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(str(payload.get("message", "error")))
        self.payload = payload


class RequestTimeoutError(BatonError):
    """No reply arrived within the request's timeout (after all retries)."""

    retriable = True
    exit_code = 124


class StackError(BatonError):
    """The local Kafka/PostgreSQL stack could not be set up; says what to install or fix."""

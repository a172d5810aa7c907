"""One exception root for Baton.

Every error Baton raises derives from :class:`BatonError`. Subclasses carry structured
fields and a ``retriable`` flag; the bus decides between retry and dead letter from that
flag alone, never from the message text.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
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

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: class, message and structured fields."""
        return {"error": type(self).__name__, "message": self.message, **self.fields}


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


class ConfigError(BatonError):
    """Configuration that is missing or invalid; names the environment variable."""

    exit_code = 2


class MissingTopicError(BatonError):
    """A topic the component needs does not exist on the broker."""

    def __init__(self, message: str, *, topics: list[str]) -> None:
        super().__init__(message, topics=topics)
        self.topics = topics


class DependencyUnavailableError(BatonError):
    """Kafka, PostgreSQL or another dependency cannot be reached right now."""

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
    """A request was answered with an error response."""

    exit_code = 1

    def __init__(self, message: str, *, error: dict[str, Any]) -> None:
        super().__init__(message, remote=error)
        self.error = error


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

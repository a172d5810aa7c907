"""The catalogue of protocol messages: schema name → envelope model, and validation helpers.

A message travels as a one-key envelope, ``{"allocation_request": {...}}``; the key is the
message's schema name (``schemas/<name>.schema.json``). Validation errors become
:class:`~baton.errors.ProtocolError` whose ``part`` is the path of the first bad field
(``data.allocation_request.priority``), so a message carried in an event's data is
reported like any other bad data.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from baton.errors import ProtocolError
from baton.protocol.limits import field_path
from baton.protocol.messages.allocation import (
    AllocationRequestMessage,
    AllocationResponseMessage,
)
from baton.protocol.messages.checkpoint import CheckpointSyncMessage
from baton.protocol.messages.component_config import ComponentConfigMessage
from baton.protocol.messages.error_report import ErrorReportMessage
from baton.protocol.messages.health import HealthStatusMessage
from baton.protocol.messages.registration import ComponentRegistrationMessage
from baton.protocol.messages.state import WorkflowStateMessage

__all__ = ["MESSAGE_MODELS", "message_name", "parse_message", "validate_model"]

M = TypeVar("M", bound=BaseModel)

MESSAGE_MODELS: Final[Mapping[str, type[BaseModel]]] = MappingProxyType(
    {
        "allocation_request": AllocationRequestMessage,
        "allocation_response": AllocationResponseMessage,
        "workflow_state": WorkflowStateMessage,
        "checkpoint_sync": CheckpointSyncMessage,
        "error_report": ErrorReportMessage,
        "component_registration": ComponentRegistrationMessage,
        "health_status": HealthStatusMessage,
        "component_config": ComponentConfigMessage,
    }
)
"""Schema name (the envelope key) → envelope model, for every message of the protocol."""


def validate_model(model: type[M], data: Any, *, part: str = "data") -> M:
    """Validate ``data`` as ``model``.

    Args:
        model: A pydantic model, e.g. ``AllocationRequestMessage``.
        data: The decoded JSON.
        part: Name of ``data`` in errors.

    Raises:
        ProtocolError: ``part`` is the path of the first invalid field; the message lists
            every problem.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        path = field_path([p for p in first["loc"] if isinstance(p, str | int)], root=part)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors
        )
        raise ProtocolError(
            f"invalid {model.__name__}: {problems}", part=path, errors=len(errors)
        ) from None


def message_name(data: Mapping[str, Any]) -> str | None:
    """The schema name of an envelope (its single key), or None when it is not one."""
    if len(data) != 1:
        return None
    (key,) = data
    return key if key in MESSAGE_MODELS else None


def parse_message(data: Mapping[str, Any], *, part: str = "data") -> BaseModel:
    """Validate an envelope of any known message, chosen by its key.

    Raises:
        ProtocolError: not a one-key envelope of a known message, or an invalid message.
    """
    name = message_name(data) if isinstance(data, Mapping) else None
    if name is None:
        keys = ", ".join(sorted(map(str, data))) if isinstance(data, Mapping) else "none"
        raise ProtocolError(
            f"expected one of {', '.join(MESSAGE_MODELS)} as the only key; found: {keys}",
            part=part,
        )
    return validate_model(MESSAGE_MODELS[name], data, part=part)

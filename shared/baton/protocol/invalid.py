"""Validation failures as bad input: every wrong field named, with what it accepts.

A pydantic ``ValidationError`` becomes a :class:`~baton.errors.BadInputError` (exit 2,
never retriable) listing each wrong field as a path from the argument's name
(``definition.tasks[1].phase``) with pydantic's message — never its documentation links —
the value given when it is short, and, for an unknown field, the fields allowed there.

A model validator that checks several fields together names the one at fault by raising
:func:`field_error`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_args

from pydantic import AliasChoices, BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from baton.errors import BadInputError
from baton.protocol.limits import field_path

__all__ = ["bad_input", "field_error"]

_FIELD_ERROR = "invalid_field"
_SHOWN_CHARS = 60  # values up to this long are quoted back in the message


def field_error(field: str, detail: str) -> PydanticCustomError:
    """An error for a model validator to raise about ``field`` (a path inside the model,
    e.g. ``tasks[2].phase``); :func:`bad_input` names that field."""
    return PydanticCustomError(
        _FIELD_ERROR, "{field}: {detail}", {"field": field, "detail": detail}
    )


def bad_input(
    error: ValidationError, *, root: str, model: type[BaseModel] | None = None
) -> BadInputError:
    """``error`` as bad input.

    Args:
        error: What pydantic found.
        root: Name of the validated value in the caller's terms (``definition``,
            ``allocation_request``, ``data.assignments``).
        model: The model validated, to list the fields allowed where one is unknown.
    """
    problems = [_problem(e, root=root, model=model) for e in error.errors(include_url=False)]
    listing = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return BadInputError(
        f"invalid {root}: {listing}", field=problems[0]["field"], problems=problems
    )


def _problem(e: Any, *, root: str, model: type[BaseModel] | None) -> dict[str, str]:
    loc: list[str | int] = [p for p in e["loc"] if isinstance(p, str | int)]
    kind: str = e["type"]
    ctx: dict[str, Any] = e.get("ctx") or {}
    field = field_path(loc, root=root)
    if kind == _FIELD_ERROR:
        inner = str(ctx["field"])
        return {
            "field": field + (inner if inner.startswith("[") else f".{inner}"),
            "message": str(ctx["detail"]),
            "type": kind,
        }
    if kind == "extra_forbidden":
        allowed = _allowed(model, loc) if model is not None else None
        message = "unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif kind == "value_error" and "error" in ctx:
        message = str(ctx["error"])  # the validator's own words, without "Value error, "
    else:
        message = str(e["msg"])
        given = e.get("input")
        if kind != "missing" and _short(given):
            message += f", not {given!r}"
    return {"field": field, "message": message, "type": kind}


def _short(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= _SHOWN_CHARS
    return value is None or isinstance(value, bool | int | float)


def _allowed(model: type[BaseModel], loc: Sequence[str | int]) -> list[str] | None:
    """Field names (and aliases) accepted by the model that holds ``loc``'s last part."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # an item of a list: the same model as the list's
        info = current.model_fields.get(part) if current is not None else None
        current = _model_in(info.annotation) if info is not None else None
    if current is None:
        return None
    names: set[str] = set()
    for name, info in current.model_fields.items():
        names.add(name)
        alias = info.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str))
    return sorted(names)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The one model inside a field's type (``list[TaskSpec] | None`` → ``TaskSpec``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    found = {m for arg in get_args(annotation) if (m := _model_in(arg)) is not None}
    return found.pop() if len(found) == 1 else None

"""Checking an event's data against the Event Types Registry of the protocol.

The registered types and the kinds of their fields are in :mod:`baton.protocol.event_types`
(re-exported here). Missing fields are findings (``missing:<field>``) in default mode and
one error naming all of them in strict mode (per deployment or per type); present fields
are type-checked in both modes. Types not in the registry are custom events: they pass,
unless strict mode also refuses unregistered types. A check is one dict lookup and a loop
over at most four precomputed field specs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from baton.config import BatonSettings
from baton.errors import ProtocolError
from baton.protocol.event_types import (
    DEFAULT_EVENTS,
    JSON_KINDS,
    EventSpec,
    FieldSpec,
    JsonKind,
    kind_of,
)
from baton.protocol.limits import MAX_EVENT_TYPE_CHARS

__all__ = ["DEFAULT_EVENTS", "EventRegistry", "EventSpec", "FieldSpec", "JsonKind"]

_MISSING: Final = object()


def _valid_type_name(name: str) -> bool:
    return (
        0 < len(name) <= MAX_EVENT_TYPE_CHARS
        and "A" <= name[0] <= "Z"
        and all("A" <= c <= "Z" or "0" <= c <= "9" or c == "_" for c in name)
    )


class EventRegistry:
    """Registered event types and the check of an event's data against them.

    Args:
        strict: Missing registered fields are errors for every type.
        strict_types: Types checked strictly even when ``strict`` is off.
        refuse_unregistered: When strict (globally or for the type), refuse types that are
            not registered.
    """

    __slots__ = ("_refuse", "_specs", "_strict", "_strict_types")

    def __init__(
        self,
        *,
        strict: bool = False,
        strict_types: frozenset[str] = frozenset(),
        refuse_unregistered: bool = False,
    ) -> None:
        self._strict = strict
        self._strict_types = frozenset(strict_types)
        self._refuse = refuse_unregistered
        self._specs: dict[str, EventSpec] = dict(DEFAULT_EVENTS)

    @classmethod
    def from_settings(cls, settings: BatonSettings) -> EventRegistry:
        """A registry in the mode ``settings`` asks for (``BATON_STRICT`` and friends)."""
        return cls(
            strict=settings.strict,
            strict_types=settings.strict_types,
            refuse_unregistered=settings.refuse_unregistered,
        )

    def check(self, event_type: str, data: Mapping[str, Any]) -> tuple[str, ...]:
        """Check ``data`` against the registered fields of ``event_type``.

        Returns:
            Findings in default mode: ``missing:<field>`` per missing registered field.

        Raises:
            ProtocolError: a present field has the wrong kind (``part="data.<field>"``);
                strict mode and fields are missing (``part="data"``, all of them named);
                strict mode refusing an unregistered type (``part="event_type"``).
        """
        spec = self._specs.get(event_type)
        if spec is None:
            if self._refuse and (self._strict or event_type in self._strict_types):
                raise ProtocolError(
                    f"{event_type} is not a registered event type (strict mode)",
                    part="event_type",
                )
            return ()
        missing: list[str] = []
        for spec_field in spec.fields:
            value = data.get(spec_field.name, _MISSING)
            if value is _MISSING:
                missing.append(spec_field.name)
            elif not spec_field.accepts(value):
                raise ProtocolError(
                    f"{event_type} field {spec_field.name} must be "
                    f"{' or '.join(spec_field.kinds)}, found {kind_of(value)}",
                    part=f"data.{spec_field.name}",
                )
        if not missing:
            return ()
        if self._strict or event_type in self._strict_types:
            raise ProtocolError(
                f"{event_type} requires {', '.join(spec.required)}; missing: {', '.join(missing)}",
                part="data",
                missing=missing,
            )
        return tuple(f"missing:{name}" for name in missing)

    def register(
        self,
        event_type: str,
        *,
        fields: Mapping[str, JsonKind | Sequence[JsonKind]],
        description: str = "",
        replace: bool = False,
    ) -> EventSpec:
        """Register a custom event type with its required data fields.

        Args:
            event_type: ``[A-Z][A-Z0-9_]*``.
            fields: Field name → the JSON kind, or kinds, it may have.
            description: What the event means.
            replace: Allow replacing a type that is already registered.

        Raises:
            ProtocolError: an invalid name or kind, or the type exists and ``replace`` is off.
        """
        if not _valid_type_name(event_type):
            raise ProtocolError(f"{event_type!r} is not [A-Z][A-Z0-9_]*", part="event_type")
        if event_type in self._specs and not replace:
            raise ProtocolError(f"{event_type} is already registered", part="event_type")
        specs: list[FieldSpec] = []
        for name, kinds in fields.items():
            given = (kinds,) if isinstance(kinds, str) else tuple(kinds)
            unknown = [k for k in given if k not in JSON_KINDS]
            if not name or not given or unknown:
                raise ProtocolError(
                    f"field {name!r} needs kinds among {', '.join(JSON_KINDS)}",
                    part=f"fields.{name}",
                )
            specs.append(FieldSpec(name, given))
        spec = EventSpec(event_type, description, tuple(specs))
        self._specs[event_type] = spec
        return spec

    def get(self, name: str) -> EventSpec | None:
        """The :class:`EventSpec` of a registered type, or None."""
        return self._specs.get(name)

    def is_registered(self, name: str) -> bool:
        """True when ``name`` is a registered type."""
        return name in self._specs

    def types(self) -> tuple[str, ...]:
        """Names of the registered types, in registration order."""
        return tuple(self._specs)

    def __iter__(self) -> Iterator[EventSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

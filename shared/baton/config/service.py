"""Base of a service's own section of settings (``BATON_HUB_*``, ``BATON_RETENTION_*``...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from baton.config.environment import SECTION_PREFIXES, SettingsBase, read_settings

__all__ = ["ServiceConfig"]


class ServiceConfig(SettingsBase):
    """Base of a service's own settings, read from ``<env_prefix><FIELD>`` variables.

    Subclasses set ``env_prefix`` (``BATON_HUB_``, one of the known sections, so other
    processes accept the section's variables) and may override :meth:`prepare` to turn raw
    strings into structured values before validation.
    """

    env_prefix: ClassVar[str] = ""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.env_prefix not in SECTION_PREFIXES:
            raise TypeError(
                f"{cls.__name__}.env_prefix {cls.env_prefix!r} is not a known section "
                f"({', '.join(SECTION_PREFIXES)})"
            )

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Adjust raw values (field name → string) before validation."""
        return values

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """Build from the variables of ``env`` under ``env_prefix``.

        Raises:
            ConfigError: a variable under the prefix is unknown (the nearest known name is
                suggested) or its value invalid; ``variable`` names it.
        """
        return read_settings(cls, env=env, prefix=cls.env_prefix, prepare=cls.prepare)

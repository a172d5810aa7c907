"""Reading settings from a mapping of ``BATON_*`` environment variables.

Every settings class (:class:`~baton.config.BatonSettings` and each service's
:class:`~baton.config.ServiceConfig`) is a pydantic-settings model read by
:func:`read_settings`: pydantic-settings' environment source takes the variables under the
class's prefix from the mapping it is given, never from ``os.environ`` behind the caller's
back. A secret may come from the file ``<VARIABLE>_FILE`` names instead (a mounted secret);
a variable under the prefix that the class does not know stops the start, naming the
nearest known one; an invalid value raises a :class:`~baton.errors.ConfigError` naming its
variable.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from baton.config.names import SERVICES
from baton.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "FILE_SUFFIX",
    "OTHER_VARIABLES",
    "SECRET",
    "SECTION_PREFIXES",
    "Secret",
    "SettingsBase",
    "is_other_variable",
    "read_settings",
    "secret_fields",
    "setting_variables",
]

ENV_PREFIX: Final = "BATON_"
FILE_SUFFIX: Final = "_FILE"
HIDDEN: Final = "**********"
"""What an error shows instead of a secret's value."""

SECTION_PREFIXES: tuple[str, ...] = (
    *(f"{ENV_PREFIX}{service.upper()}_" for service in SERVICES),
    f"{ENV_PREFIX}RETENTION_",
)
"""Prefixes of the sections a service reads on its own (``BATON_HUB_*``, ...,
``BATON_RETENTION_*``); each is validated, unknown names included, by the services that
read it when they start."""

OTHER_VARIABLES: Mapping[str, str] = MappingProxyType(
    {
        "BATON_TEST_": "the test suite's own stack and options (``BATON_TEST_HOME``, "
        "``BATON_TEST_KAFKA_PORT``, ``BATON_TEST_PG_PORT``, ``BATON_TEST_USE_CONFIGURED``); "
        "``BATON_TEST_USER_*`` keep the user's stack variables while the tests run",
        "BATON_FAULT_": "size, randomness and log level of the fault suite "
        "(``baton workflow-recovery test-scenarios`` sets ``BATON_FAULT_RUNS`` and "
        "``BATON_FAULT_WORKFLOWS``)",
        "BATON_ROLES_TEST_DSN": "a database for the PostgreSQL roles test instead of the "
        "test stack's",
        "BATON_IMAGE": "the image ``docker compose`` runs (default ``baton:local``)",
        "BATON_UID": "the user id the image is built with (``docker build --build-arg``)",
        "BATON_KUBE_VERSIONS": "the Kubernetes versions the chart is checked against",
    }
)
"""``BATON_*`` variables that are no setting of a Baton process, with what they are for; a
name ending in ``_`` stands for every variable it starts. They are accepted, so a shell that
sets them runs Baton too."""


def is_other_variable(name: str) -> bool:
    """Whether ``name`` is one of :data:`OTHER_VARIABLES` (or under one of its prefixes)."""
    return any(
        name.startswith(other) if other.endswith("_") else name == other
        for other in OTHER_VARIABLES
    )


@dataclass(frozen=True, slots=True)
class Secret:
    """Marks a setting secret, as ``Annotated[str | None, SECRET]``: its value may come from
    the file ``<VARIABLE>_FILE`` names instead (a mounted secret), and no error shows it."""


SECRET: Final = Secret()

S = TypeVar("S", bound="SettingsBase")


class SettingsBase(BaseSettings):
    """A settings class, read from an explicit mapping by :func:`read_settings`.

    Built directly (``BatonSettings(topic_prefix="x")``), only its keywords and defaults
    count: nothing comes from ``os.environ``, a ``.env`` file or a secrets directory, so the
    entry point alone decides which environment a process reads.
    """

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping, not ``os.environ``.

    Values stay text: the settings classes parse their comma lists and JSON themselves, so
    a variable's syntax does not depend on how its field is typed.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], *, prefix: str, variables: Mapping[str, str]
    ) -> None:
        self._variables = variables
        super().__init__(settings_cls, case_sensitive=False, env_prefix=prefix)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._variables.items()}

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        return value


def secret_fields(model: type[SettingsBase]) -> frozenset[str]:
    """Fields of ``model`` marked :data:`SECRET`."""
    return frozenset(name for name, field in model.model_fields.items() if SECRET in field.metadata)


def setting_variables(model: type[SettingsBase], *, prefix: str) -> dict[str, str]:
    """Every variable ``model`` reads → its field: ``<prefix><FIELD>``, and
    ``<prefix><FIELD>_FILE`` for a secret."""
    variables = {f"{prefix}{name.upper()}": name for name in model.model_fields}
    for name in sorted(secret_fields(model)):
        file_variable = f"{prefix}{name.upper()}{FILE_SUFFIX}"
        if file_variable in variables:  # a field named like a secret's file variable
            raise TypeError(f"{model.__name__}: {file_variable} would name two settings")
        variables[file_variable] = name
    return variables


def read_settings(
    model: type[S],
    *,
    env: Mapping[str, str],
    prefix: str,
    overrides: Mapping[str, Any] | None = None,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    elsewhere: Callable[[str], bool] | None = None,
) -> S:
    """Build ``model`` from the variables of ``env`` under ``prefix``.

    Args:
        model: The settings class.
        env: Environment variables (``os.environ`` at an entry point); an empty value
            counts as unset.
        prefix: Start of every variable of ``model`` (``BATON_``, ``BATON_HUB_``).
        overrides: Values that win over the environment (command-line options); None
            values are ignored.
        prepare: Turns the variables' text (field → value) into structured values before
            validation.
        elsewhere: Names under ``prefix`` that another reader handles, so they are not
            unknown here.

    Raises:
        ConfigError: a variable is unknown (with the nearest known name), a secret is given
            twice or its file is unreadable, or a value is invalid; ``variable`` names it.
    """
    known = setting_variables(model, prefix=prefix)
    ours = {
        name: value
        for name, value in env.items()
        if name.startswith(prefix) and not (elsewhere is not None and elsewhere(name))
    }
    _refuse_unknown(ours, known=known, prefix=prefix)
    secrets = secret_fields(model)
    given = _with_secret_files(
        {name: value for name, value in ours.items() if value != ""},
        variables=[f"{prefix}{field.upper()}" for field in sorted(secrets)],
    )
    values = _MappingSource(model, prefix=prefix, variables=given)()
    if prepare is not None:
        values = prepare(values)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return model(**values)
    except ValidationError as exc:
        raise _config_error(
            exc, prefix=prefix, known=known, secrets=secrets, values=values
        ) from None  # pydantic's own message would show the input, secrets too


def _refuse_unknown(names: Iterable[str], *, known: Mapping[str, str], prefix: str) -> None:
    unknown = sorted(name for name in names if name not in known)
    if not unknown:
        return
    name = unknown[0]
    # Compared without the common prefix, which would make every name look alike.
    tails = {variable[len(prefix) :]: variable for variable in known}
    close = difflib.get_close_matches(name[len(prefix) :], sorted(tails), n=1)
    suggestion = tails[close[0]] if close else None
    message = f"unknown setting {name}"
    if suggestion is not None:
        message += f"; did you mean {suggestion}?"
    if len(unknown) > 1:
        message += f" (also unknown: {', '.join(unknown[1:])})"
    raise ConfigError(
        message, variable=name, problem="unknown", suggestion=suggestion, unknown=unknown
    )


def _with_secret_files(given: dict[str, str], *, variables: Iterable[str]) -> dict[str, str]:
    """``given`` with each secret whose ``_FILE`` variable is set read from that file."""
    for variable in variables:
        file_variable = f"{variable}{FILE_SUFFIX}"
        path = given.pop(file_variable, None)
        if path is None:
            continue
        if variable in given:
            raise ConfigError(
                f"set either {variable} or {file_variable}, not both",
                variable=file_variable,
                problem="both set",
            )
        try:
            # One trailing newline is how files are usually written; it is not the secret.
            value = Path(path).read_text("utf-8").removesuffix("\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(
                f"{file_variable}: cannot read {path} ({reason})",
                variable=file_variable,
                problem="unreadable",
            ) from None
        if not value:
            raise ConfigError(
                f"{file_variable}: {path} is empty", variable=file_variable, problem="empty"
            )
        given[variable] = value
    return given


def _config_error(
    exc: ValidationError,
    *,
    prefix: str,
    known: Mapping[str, str],
    secrets: frozenset[str],
    values: Mapping[str, Any],
) -> ConfigError:
    """The first problem of ``exc`` as a ConfigError naming its variable."""
    first = exc.errors()[0]
    problem = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:  # a rule across fields: its message names the variables
        named = [name for name in re.findall(r"BATON_[A-Z0-9_]+", problem) if name in known]
        return ConfigError(problem, variable=named[0] if named else None, problem=problem)
    field = str(first["loc"][0])
    variable = f"{prefix}{field.upper()}"
    message = f"{variable}: {problem}"
    if field in values:
        shown = HIDDEN if field in secrets else values[field]  # never echo a secret
        message += f" (got {shown!r})"
    return ConfigError(message, variable=variable, problem=problem)

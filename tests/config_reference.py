"""docs/configuration.md, rendered from the settings classes themselves.

Every variable with its default and its meaning (the class docstring's ``Attributes``).
``python -m tests.config_reference`` writes the file; ``tests/unit/test_config_reference.py``
checks that it is current, and that every ``BATON_*`` name the project uses is known.
"""

from __future__ import annotations

import inspect
import re
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from baton.config import OTHER_VARIABLES, BatonSettings
from baton.config.environment import (
    ENV_PREFIX,
    FILE_SUFFIX,
    SettingsBase,
    secret_fields,
    setting_variables,
)
from baton.runtime.retention import RetentionConfig
from baton_hub.config import HubConfig
from baton_monitor.config import MonitorConfig
from baton_recovery.config import RecoveryConfig
from baton_resource.config import ResourceConfig
from baton_status.config import StatusConfig

__all__ = ["DOC", "SECTIONS", "known_variable", "render"]

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

SECTIONS: tuple[tuple[str, type[SettingsBase], str, str], ...] = (
    ("Every process", BatonSettings, ENV_PREFIX, "the CLI, the services, clients and agents"),
    ("Retention", RetentionConfig, RetentionConfig.env_prefix, "every service"),
    ("Hub", HubConfig, HubConfig.env_prefix, "`baton serve hub`"),
    ("Resource manager", ResourceConfig, ResourceConfig.env_prefix, "`baton serve resource`"),
    ("Status", StatusConfig, StatusConfig.env_prefix, "`baton serve status`"),
    ("Monitor", MonitorConfig, MonitorConfig.env_prefix, "`baton serve monitor`"),
    ("Recovery", RecoveryConfig, RecoveryConfig.env_prefix, "`baton serve recovery`"),
)
"""Title, class, variable prefix and who reads it, in the order of the document."""

HEAD = """\
# Configuration

Every Baton process reads its configuration from `BATON_*` environment variables, once, at
start, and stops with a message naming the variable (exit code 2) when one is wrong:

- a value that does not parse or is out of range
  (`BATON_PARTITIONS: Input should be a valid integer ... (got 'many')`);
- a `BATON_*` name that is no setting, with the nearest one
  (`unknown setting BATON_KAFKA_BOOTSTRAPS; did you mean BATON_KAFKA_BOOTSTRAP?`).
  A service checks its own section (`BATON_HUB_*` for the hub) and `BATON_RETENTION_*`;
  every process checks the shared variables;
- a secret given twice: each secret may instead come from a file, `<VARIABLE>_FILE`
  naming it (a mounted Kubernetes or compose secret; one trailing newline is dropped), but
  not both. Secrets are never printed, logged or echoed in errors.

An empty value counts as unset. The error is one JSON object on standard error, with
`variable`, `problem` and, for an unknown name, `suggestion`.

This page is generated from the settings classes (`python -m tests.config_reference`); a
test keeps it current.
"""

DAY = 86_400


def render() -> str:
    """The whole document."""
    parts = [HEAD]
    for title, model, prefix, readers in SECTIONS:
        summary = _markdown(_summary(model))
        parts.append(f"## {title} (`{prefix}*`)\n\n{summary} Read by {readers}.\n")
        parts.append("| variable | default | meaning |\n|---|---|---|")
        parts.extend(_rows(model, prefix=prefix))
        parts.append("")
    parts.append("## Other `BATON_*` variables\n")
    parts.append(
        "These are no settings of a Baton process; Baton accepts them in its environment.\n"
    )
    parts.append("| variable | for |\n|---|---|")
    for name, why in OTHER_VARIABLES.items():
        shown = f"{name}*" if name.endswith("_") else name
        parts.append(f"| `{shown}` | {_markdown(why)} |")
    # Commands as a reader types them in a fresh shell (README: the project's .venv).
    text = "\n".join(parts) + "\n"
    return text.replace("`baton ", "`.venv/bin/baton ").replace(
        "`python -m", "`.venv/bin/python -m"
    )


def known_variable(name: str) -> bool:
    """Whether ``name`` is a setting of some section or one of the other variables."""
    if any(name.startswith(other) for other in OTHER_VARIABLES if other.endswith("_")):
        return True
    if name in OTHER_VARIABLES:
        return True
    sections = sorted(SECTIONS, key=lambda section: -len(section[2]))  # longest prefix first
    for _, model, prefix, _ in sections:
        if name.startswith(prefix):
            return name in setting_variables(model, prefix=prefix)
    return False


def _rows(model: type[SettingsBase], *, prefix: str) -> Iterator[str]:
    meanings = _attribute_docs(model)
    secrets = secret_fields(model)
    for name, field in model.model_fields.items():
        if name not in meanings:
            raise LookupError(f"{model.__name__}.{name} is not in its docstring's Attributes")
        variable = f"`{prefix}{name.upper()}`"
        if name in secrets:
            variable += f"<br>or `{prefix}{name.upper()}{FILE_SUFFIX}`"
        meaning = _named(_markdown(meanings[name]), model=model, prefix=prefix)
        yield f"| {variable} | {_default(field, name=name)} | {meaning}{_choices(field)} |"


def _summary(model: type[BaseModel]) -> str:
    """The first paragraph of ``model``'s docstring, on one line."""
    return " ".join(inspect.cleandoc(model.__doc__ or "").split("\n\n")[0].split())


def _named(text: str, *, model: type[BaseModel], prefix: str) -> str:
    """``text`` with each field it quotes (`strict`) named as its variable."""

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"`{prefix}{name.upper()}`" if name in model.model_fields else match.group(0)

    return re.sub(r"`([a-z0-9_]+)`", variable, text)


def _attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """Field → text of the ``Attributes:`` section of ``model``'s docstring."""
    lines = inspect.cleandoc(model.__doc__ or "").splitlines()
    docs: dict[str, str] = {}
    if "Attributes:" not in lines:
        return docs
    current = ""
    for line in lines[lines.index("Attributes:") + 1 :]:
        entry = re.fullmatch(r" {4}(\w+): (.*)", line)
        if entry:
            current = entry.group(1)
            docs[current] = entry.group(2)
        elif line.startswith(" " * 8) and current:
            docs[current] += " " + line.strip()
        else:
            break
    return docs


def _markdown(text: str) -> str:
    text = re.sub(r":\w+:`~?([^`]+)`", lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)
    return text.replace("``", "`").replace("|", "\\|")


def _choices(field: FieldInfo) -> str:
    annotation = field.annotation
    if typing.get_origin(annotation) is typing.Union:  # Optional[...]
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is not Literal:
        return ""
    return " One of " + ", ".join(f"`{choice}`" for choice in typing.get_args(annotation)) + "."


def _default(field: FieldInfo, *, name: str) -> str:
    value = field.get_default(call_default_factory=True, validated_data={})
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, BaseModel):
        return f"`{value.model_dump_json()}`"
    if isinstance(value, (tuple, frozenset, list)):
        if any(isinstance(item, BaseModel) for item in value):
            return "built in"
        items = sorted(value) if isinstance(value, frozenset) else value
        return f"`{','.join(_scalar(item) for item in items)}`" if value else "empty"
    if isinstance(value, Path):
        home = str(Path.home())
        shown = str(value)
        return f"`~{shown.removeprefix(home)}`" if shown.startswith(home) else f"`{shown}`"
    text = f"`{_scalar(value)}`"
    seconds = value / 1000 if name.endswith("_ms") else value
    if isinstance(value, (int, float)) and seconds >= 3600 and seconds % 3600 == 0:
        unit, size = ("day", DAY) if seconds % DAY == 0 else ("hour", 3600)
        count = int(seconds // size)
        text += f" ({count} {unit}{'s' if count > 1 else ''})"
    return text


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


if __name__ == "__main__":
    DOC.write_text(render(), "utf-8")
    sys.stdout.write(f"wrote {DOC}\n")

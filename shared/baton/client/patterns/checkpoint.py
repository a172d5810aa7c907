"""Where a long orchestration keeps its state between steps (checkpoint-resume).

Choice: a JSON file per run, written atomically (a temporary file in the same directory,
flushed to disk, then renamed over the old one), so an interruption at any moment leaves
either the previous checkpoint or the new one, never half of one. Files suit an agent or a
command-line orchestrator on one machine; a deployment that needs checkpoints shared across
machines implements :class:`CheckpointStore` on its database (workflow-level checkpoints
already live in PostgreSQL through workflow-recovery).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

from baton.errors import ConfigError

__all__ = ["CheckpointStore", "JsonFileStore"]

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class CheckpointStore(Protocol):
    """Keeps one JSON-ready state per run key."""

    async def load(self, key: str) -> dict[str, Any] | None:
        """The saved state, or None when there is none."""
        ...

    async def save(self, key: str, state: dict[str, Any]) -> None:
        """Replace the saved state (atomically)."""
        ...

    async def clear(self, key: str) -> None:
        """Forget the state (the run finished). No error when there is none."""
        ...


class JsonFileStore:
    """Checkpoints as ``<directory>/<key>.json``, written atomically.

    Args:
        directory: Created when missing.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        """The file of ``key``.

        Raises:
            ConfigError: the key is not ``[A-Za-z0-9_.-]{1,128}`` (it names a file).
        """
        if not _KEY.match(key) or key in {".", ".."}:
            raise ConfigError(f"checkpoint key {key!r} is not [A-Za-z0-9_.-]{{1,128}}")
        return self.directory / f"{key}.json"

    async def load(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        if not path.exists():
            return None
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded

    async def save(self, key: str, state: dict[str, Any]) -> None:
        path = self.path(key)
        self.directory.mkdir(parents=True, exist_ok=True)
        text = json.dumps(state, indent=2, sort_keys=True)
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    async def clear(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

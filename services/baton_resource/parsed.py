"""Records read back from their stored text, each text parsed once while it is in use.

A queued request's row never changes while it waits, and an allocation's only when it is
renewed; yet every request that must wait reads the whole queue, so the same rows were
validated again and again. Here the text of a record as stored is its identity: the same
text always parses to the same record (records are frozen values, safely shared between
operations and replicas' runs alike), and a row that changed has another text.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import orjson
from pydantic import BaseModel

__all__ = ["Parsed"]

R = TypeVar("R", bound=BaseModel)


class Parsed(Generic[R]):
    """Parses stored records of one kind, keeping the most recently read ones.

    Args:
        model: The record's model.
        limit: Records kept per generation; at most twice that are held. Those read since
            the last turn of generation and those before it are kept: what every operation
            reads again (the queue's head, the whole queue of a busy pool) stays.
    """

    def __init__(self, model: type[R], *, limit: int) -> None:
        self._model = model
        self._limit = limit
        self._recent: dict[str, R] = {}
        self._older: dict[str, R] = {}

    def __len__(self) -> int:
        """How many records are held."""
        return len(self._recent) + len(self._older)

    def __call__(self, text: str) -> R:
        """The record stored as ``text`` (JSON)."""
        found = self._recent.get(text)
        if found is not None:
            return found
        found = self._older.get(text)
        if found is None:
            # As the JSONB column's codec reads it (module baton.db), then validated.
            found = self._model.model_validate(orjson.loads(text))
        if len(self._recent) >= self._limit:
            self._older, self._recent = self._recent, {}
        self._recent[text] = found
        return found

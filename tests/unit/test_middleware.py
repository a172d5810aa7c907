"""Several bus middlewares wrap a record in the order given, and let errors through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from baton.bus.middleware import Middleware, consume_scope, publish_scope
from baton.bus.transport import Record
from baton.protocol.event import Event
from baton.protocol.headers import Headers


class _Recording:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    @contextmanager
    def _scope(self) -> Iterator[None]:
        self.log.append(f"enter {self.name}")
        try:
            yield
        except ValueError:
            self.log.append(f"saw error {self.name}")
            raise
        finally:
            self.log.append(f"exit {self.name}")

    def publish_scope(
        self, *, topic: str, event: Event, headers: Headers
    ) -> AbstractContextManager[None]:
        return self._scope()

    def consume_scope(
        self, *, record: Record, event: Event | None, group: str
    ) -> AbstractContextManager[None]:
        return self._scope()


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_scopes_nest_outermost_first_and_errors_pass_through(count: int) -> None:
    log: list[str] = []
    chain: list[Middleware] = [_Recording(str(n), log) for n in range(count)]
    event = Event(event_type="TASK_STARTED", workflow_id="wf", phase="p", data={})
    record = Record(
        topic="t", partition=0, offset=0, key=None, value=b"", headers=[], timestamp_ms=0
    )
    with consume_scope(chain, record=record, event=event, group="g"):
        log.append("handle")
    names = [str(n) for n in range(count)]
    entered = [f"enter {n}" for n in names]
    assert log == [
        *entered,
        "handle",
        *(f"exit {n}" for n in reversed(names)),
    ]
    log.clear()
    with (
        pytest.raises(ValueError, match="bad"),
        publish_scope(chain, topic="t", event=event, headers=[]),
    ):
        raise ValueError("bad")
    assert log == [
        *entered,
        *(step for n in reversed(names) for step in (f"saw error {n}", f"exit {n}")),
    ]

"""The hub's cache of committed states: all or nothing, bounded, short-lived, no finished
workflow."""

from __future__ import annotations

import pytest

from baton_hub.state import WorkflowState
from baton_hub.statecache import StateCache
from tests.unit.hub.helpers import Run


def _state(workflow_id: str) -> WorkflowState:
    return Run({"workflow_id": workflow_id, "tasks": [{"task_id": "a"}]}).state


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_take_gives_every_state_or_none() -> None:
    cache = StateCache()
    one, two = _state("wf_1"), _state("wf_2")
    cache.keep([one])
    assert cache.take(["wf_1", "wf_2"]) is None
    cache.keep([two])
    found = cache.take(["wf_1", "wf_2"])
    assert found == {"wf_1": one, "wf_2": two}
    found.pop("wf_1")  # the caller's dict: the cache keeps its entries
    assert cache.take(["wf_1"]) == {"wf_1": one}
    assert (cache.hits, cache.misses) == (2, 1)


def test_the_least_recently_kept_go_first() -> None:
    cache = StateCache(capacity=2)
    states = [_state(f"wf_{n}") for n in range(3)]
    cache.keep(states[:2])
    cache.keep([states[0]])  # used again: now the newest
    cache.keep([states[2]])
    assert len(cache) == 2
    assert cache.take(["wf_1"]) is None
    assert cache.take(["wf_0", "wf_2"]) is not None


def test_an_old_entry_is_not_trusted() -> None:
    clock = _Clock()
    cache = StateCache(max_age=30, clock=clock)
    cache.keep([_state("wf_1")])
    clock.now += 30
    assert cache.take(["wf_1"]) is not None
    clock.now += 0.1
    assert cache.take(["wf_1"]) is None


def test_a_finished_or_forgotten_workflow_is_not_kept() -> None:
    cache = StateCache()
    done = _state("wf_done").model_copy(update={"status": "COMPLETED"})
    cache.keep([_state("wf_done"), _state("wf_other")])
    cache.keep([done])
    assert cache.take(["wf_done"]) is None
    cache.forget(["wf_other"])
    assert len(cache) == 0


def test_it_needs_room_and_time() -> None:
    with pytest.raises(ValueError, match="capacity"):
        StateCache(capacity=0)
    with pytest.raises(ValueError, match="max_age"):
        StateCache(max_age=0)

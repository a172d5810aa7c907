"""Seed 004's orchestrator patterns: steps with progress, checkpoint-resume, validation
chain, strategy routing with fallback."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from baton.client import (
    Check,
    JsonFileStore,
    Pipeline,
    Step,
    StepEvent,
    StepFailedError,
    StrategyError,
    StrategyRouter,
    ValidationChain,
    print_steps,
)
from baton.errors import ConfigError

pytestmark = pytest.mark.timeout(30)


def steps(log: list[str], *, fail_at: str | None = None) -> list[Step]:
    def make(name: str) -> Step:
        async def run(state: dict[str, Any]) -> None:
            if name == fail_at:
                raise RuntimeError(f"{name} broke")
            log.append(name)
            state[name] = len(log)

        return Step(name, run)

    return [make(n) for n in ("extract", "parse", "assign", "write")]


async def test_steps_run_in_order_with_step_n_of_total_progress() -> None:
    events: list[StepEvent] = []
    out = io.StringIO()

    async def record(event: StepEvent) -> None:
        events.append(event)

    log: list[str] = []
    state = await Pipeline(steps=steps(log), reporters=[record, print_steps(out)]).run(
        state={"slug": "auth"}
    )
    assert log == ["extract", "parse", "assign", "write"]
    assert state == {"slug": "auth", "extract": 1, "parse": 2, "assign": 3, "write": 4}
    assert [(e.label, e.status) for e in events[:2]] == [
        ("Step 1/4: extract", "started"),
        ("Step 1/4: extract", "done"),
    ]
    assert "Step 4/4: write..." in out.getvalue()


async def test_an_interrupted_run_resumes_after_the_last_saved_step(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path / "ckpt")
    first: list[str] = []
    with pytest.raises(StepFailedError) as caught:
        await Pipeline(steps=steps(first, fail_at="assign"), store=store).run(
            key="feature_1", state={"slug": "auth"}
        )
    assert (caught.value.step, caught.value.number) == ("assign", 3)
    saved = await store.load("feature_1")
    assert saved == {"done": ["extract", "parse"], "state": {"slug": "auth", "extract": 1,
                                                             "parse": 2}}  # fmt: skip
    assert not list((tmp_path / "ckpt").glob("*.tmp"))  # atomic writes leave no temp files

    second: list[str] = []
    out = io.StringIO()
    state = await Pipeline(steps=steps(second), store=store, reporters=[print_steps(out)]).run(
        key="feature_1", state={"ignored": True}
    )
    assert second == ["assign", "write"]  # the steps done before are not run again
    assert state["slug"] == "auth"
    assert "ignored" not in state
    assert "(done before, resumed past it)" in out.getvalue()
    assert await store.load("feature_1") is None  # a finished run clears its checkpoint


async def test_checkpoint_keys_name_files_safely(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    with pytest.raises(ConfigError):
        await store.save("../escape", {})
    await store.clear("never-saved")


def test_step_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        Pipeline(steps=[*steps([])[:1], *steps([])[:1]])


async def test_validation_chain_stops_at_the_first_failure() -> None:
    ran: list[str] = []

    def check(name: str, verdict: str | None) -> Check:
        async def run(context: dict[str, Any]) -> str | None:
            ran.append(name)
            return verdict

        return Check(name, run)

    async def explode(context: dict[str, Any]) -> str | None:
        raise KeyError("answers")

    ok = await ValidationChain([check("config", None), check("answers", None)]).run({})
    assert ok.success
    assert ok.passed == ["config", "answers"]
    ran.clear()
    chain = ValidationChain(
        [check("config", None), check("answers", "cancelled"), check("save", None)]
    )
    outcome = await chain.run({})
    assert (outcome.success, outcome.failed, outcome.error) == (False, "answers", "cancelled")
    assert ran == ["config", "answers"]
    raised = await ValidationChain([Check("load", explode)]).run({})
    assert raised.error == "KeyError: 'answers'"


async def test_strategy_routing_falls_back_in_order() -> None:
    async def ai(text: str) -> str:
        raise TimeoutError("model busy")

    async def static(text: str) -> str:
        return text.upper()

    router: StrategyRouter[str] = StrategyRouter(
        strategies={"ai": ai, "static": static}, fallbacks={"hybrid": ["ai", "static"]}
    )
    routed = await router.run("hybrid", "doc")
    assert (routed.value, routed.strategy) == ("DOC", "static")
    assert routed.errors == {"ai": "TimeoutError: model busy"}
    assert (await router.run("static", "x")).errors == {}
    with pytest.raises(StrategyError) as caught:
        await router.run("ai", "x")
    assert caught.value.errors == {"ai": "TimeoutError: model busy"}
    with pytest.raises(StrategyError):
        await router.run("quantum", "x")
    with pytest.raises(ValueError, match="unknown"):
        StrategyRouter(strategies={"ai": ai}, fallbacks={"hybrid": ["ai", "nope"]})

"""Pins the public client API: a change here is a change users see."""

from __future__ import annotations

import inspect

import baton
import baton.client
import baton.testing

EXPECTED = {
    "PROTOCOL_VERSION",
    "Ack",
    "AgentWorker",
    "BatonClient",
    "BatonError",
    "BatonSettings",
    "Bus",
    "ClientError",
    "ConfigError",
    "DependencyUnavailableError",
    "Event",
    "EventRegistry",
    "Handler",
    "HandlerError",
    "KafkaTransport",
    "MemoryTransport",
    "Middleware",
    "MissingTopicError",
    "Pattern",
    "ProtocolError",
    "RemoteError",
    "RequestTimeoutError",
    "Responder",
    "StackError",
    "StartAt",
    "Subscription",
    "Task",
    "TaskHandler",
    "TaskResult",
    "TopicNames",
    "TracingMiddleware",
    "WorkflowSnapshot",
    "__version__",
    "routing_key",
}


CLIENT_EXPECTED = {
    "TERMINAL_STATUSES",
    "AgentWorker",
    "BatonClient",
    "Check",
    "CheckpointStore",
    "ClientError",
    "JsonFileStore",
    "Pipeline",
    "Routed",
    "Step",
    "StepEvent",
    "StepFailedError",
    "StepReporter",
    "StrategyError",
    "StrategyRouter",
    "Task",
    "TaskHandler",
    "TaskRejectedError",
    "TaskResult",
    "ValidationChain",
    "ValidationOutcome",
    "WorkflowSnapshot",
    "print_steps",
    "task_progress",
}

TESTING_EXPECTED = {"AgentTestEnvironment", "FakeHub"}


def test_exported_names_are_pinned() -> None:
    pinned = ((baton, EXPECTED), (baton.client, CLIENT_EXPECTED), (baton.testing, TESTING_EXPECTED))
    for module, expected in pinned:
        assert set(module.__all__) == expected, module.__name__
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


def test_bus_methods_are_keyword_only_past_the_first_argument() -> None:
    for method in ("publish", "send", "subscribe", "request", "serve"):
        params = list(inspect.signature(getattr(baton.Bus, method)).parameters.values())[1:]
        positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert len(positional) <= 2, (method, positional)
        assert all(p.annotation is not inspect.Parameter.empty for p in params), method


def test_every_error_derives_from_the_root_and_has_an_exit_code() -> None:
    for name in baton.__all__:
        obj = getattr(baton, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert issubclass(obj, baton.BatonError)
            assert obj.exit_code in {1, 2, 124}


def test_client_and_worker_take_keywords_only() -> None:
    testing = (baton.testing.AgentTestEnvironment, baton.testing.FakeHub)
    for call in (baton.BatonClient, baton.AgentWorker, *testing):
        params = list(inspect.signature(call).parameters.values())
        assert all(p.kind is p.KEYWORD_ONLY for p in params), call
    for method in ("publish", "request"):  # an event or line may come first, nothing else
        params = list(inspect.signature(getattr(baton.BatonClient, method)).parameters.values())
        assert [p.name for p in params if p.kind is not p.KEYWORD_ONLY] == ["self", "event"]
    for method in ("subscribe", "create_workflow", "workflow_status", "wait_for_workflow"):
        params = list(inspect.signature(getattr(baton.BatonClient, method)).parameters.values())
        assert sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in params) <= 3, method
        assert all(p.annotation is not inspect.Parameter.empty for p in params[1:]), method


def test_the_test_hub_takes_keywords_past_what_it_is_about() -> None:
    """A task id, a workflow, an event type come first; everything else is named."""
    hub = baton.testing.FakeHub
    positional = {"assign": ["task_id"], "cancel": ["workflow"], "announce": ["event_type", "data"],
                  "reports": ["event_type"], "wait_for": ["event_type"]}  # fmt: skip
    for method, names in positional.items():
        params = list(inspect.signature(getattr(hub, method)).parameters.values())[1:]
        assert [p.name for p in params if p.kind is not p.KEYWORD_ONLY] == names, method
        assert all(p.annotation is not inspect.Parameter.empty for p in params), method
    made = inspect.signature(baton.testing.AgentTestEnvironment.client).parameters["component"]
    assert made.kind is made.KEYWORD_ONLY

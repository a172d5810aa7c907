"""Pins the public client API: a change here is a change users see."""

from __future__ import annotations

import inspect

import baton

EXPECTED = {
    "PROTOCOL_VERSION",
    "Ack",
    "BatonError",
    "BatonSettings",
    "Bus",
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
    "Subscription",
    "TopicNames",
    "TracingMiddleware",
    "__version__",
    "routing_key",
}


def test_exported_names_are_pinned() -> None:
    assert set(baton.__all__) == EXPECTED
    for name in baton.__all__:
        assert hasattr(baton, name), name


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

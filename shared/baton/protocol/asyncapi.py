"""The AsyncAPI 3.0 document of Baton: topics, the line format, headers, messages.

Choices the protocol leaves open:

- Every topic carries event lines (``text/plain``), as the bus writes them; a protocol
  message of the protocol travels as the *data* of a line, ``{"allocation_request": {...}}``.
  Such messages are listed under ``components.messages`` with the line as payload and the
  JSON Schema of their data in the extension ``x-data-schema``.
- Channels use the default names (prefix ``baton``, 3 retry levels); per-service command
  topics are separate channels, retry and dead-letter topics are parameterised channels.
- Only the cleanup policy goes into the Kafka bindings; partitions, replication and
  retention are per deployment (``baton topics create``).
- The registered event types and their required data fields are listed in the extension
  ``x-baton-event-types`` of the event message; the commands a service answers, in the
  extension ``x-baton-commands`` of its commands channel, and in ``x-baton-command-contracts``
  each command's request schema, reply type and reply schema (both schemas in
  ``components.schemas``).
"""

from __future__ import annotations

from typing import Any, Final

from baton.config import LOCAL_KAFKA_BOOTSTRAP, SERVICES, TopicNames
from baton.protocol.codec import LINE_PATTERN
from baton.protocol.commands import COMMANDS, REPLIES, REPLY_SUFFIX, REQUESTS, reply_type
from baton.protocol.headers import PROTOCOL_VERSION, H
from baton.protocol.limits import MAX_LINE_BYTES
from baton.protocol.messages import MESSAGE_MODELS
from baton.protocol.registry import DEFAULT_EVENTS

__all__ = ["HEADER_DOCS", "asyncapi_document"]

HEADER_DOCS: Final[dict[str, str]] = {
    H.EVENT_ID: "Unique, time-ordered event id (UUIDv7); consumers' idempotency key.",
    H.TIMESTAMP: "When the event was created, ISO-8601 with milliseconds.",
    H.SOURCE: "Component that published the event.",
    H.VERSION: "Protocol version MAJOR.MINOR.PATCH; the same major is accepted.",
    H.ROUTING_KEY: "<category>.<workflow_id>.<action>; filtering needs no decoding.",
    H.CORRELATION_ID: "Ties related events, and a request to its reply.",
    H.REQUEST_ID: "Id of a request (req_<uuid>), repeated on its reply.",
    H.REPLY_TO: "Topic a request wants its reply on.",
    H.STATUS: "Status of a reply: ok or error.",
    H.FINDINGS: "Comma-separated registry findings, e.g. missing:actual_duration.",
    H.TRACEPARENT: "W3C trace context: one workflow is one trace.",
    H.TRACESTATE: "W3C trace state.",
    H.RETRY_GROUP: "Consumer group a retried record is meant for.",
    H.RETRY_DUE: "Time a retried record becomes due.",
    H.ORIGINAL_TOPIC: "Topic the record failed on.",
    H.ORIGINAL_PARTITION: "Partition the record failed on.",
    H.ORIGINAL_OFFSET: "Offset the record failed at.",
    H.ORIGINAL_TIMESTAMP: "Timestamp of the original record.",
    H.CONSUMER_GROUP: "Consumer group that failed to handle the record.",
    H.COMPONENT: "Component that failed to handle the record.",
    H.ERROR_CLASS: "Class of the error that failed the record.",
    H.ERROR_MESSAGE: "Message of the error that failed the record.",
    H.ERROR_PART: "Part of the line that is wrong, for protocol errors.",
    H.ATTEMPTS: "How many times the record was tried.",
    H.FIRST_FAILURE: "When the record first failed.",
    H.REPLAYED_FROM: "Dead-letter topic a replayed record came from.",
    H.RETRY_HANDLERS: "Subscriptions of the retrying group that still have to handle the record.",
    H.DEAD_LETTER_ID: "Source topic:partition:offset of a dead letter; equal on every group's "
    "copy of one record, which list and replay merge into one dead letter.",
    H.REROUTED_FROM: "topic:partition:offset where a client with another partitioner put the "
    "record; the bus re-published it unchanged to the partition its key belongs on.",
}
"""Description of every header of :class:`baton.protocol.headers.H`."""

_KAFKA: Final = "0.5.0"
_DEAD_LETTER_HEADERS: Final = {
    H.ORIGINAL_TOPIC, H.ORIGINAL_PARTITION, H.ORIGINAL_OFFSET, H.ORIGINAL_TIMESTAMP,
    H.CONSUMER_GROUP, H.COMPONENT, H.ERROR_CLASS, H.ERROR_MESSAGE, H.ERROR_PART, H.ATTEMPTS,
    H.FIRST_FAILURE, H.DEAD_LETTER_ID,
}  # fmt: skip


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _headers() -> dict[str, str]:
    return {v: k for k, v in vars(H).items() if k.isupper() and isinstance(v, str)}


def _ref(path: str) -> dict[str, str]:
    return {"$ref": path}


def _binding(policy: str) -> dict[str, Any]:
    return {"kafka": {"bindingVersion": _KAFKA, "topicConfiguration": {"cleanup.policy": [policy]}}}


def _channel(address: str, description: str, messages: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {m: _ref(f"#/components/messages/{m}") for m in messages},
        "bindings": _binding("compact" if address.endswith(".state") else "delete"),
        **extra,
    }


def _channels(names: TopicNames) -> dict[str, Any]:
    events, replies = names.events, names.replies
    others = [s for s in names.sources() if s != events]
    level = {"level": _ref("#/components/parameters/level")}
    source = {"source": {"description": "Source topic.", "enum": others}}
    channels: dict[str, Any] = {
        "events": _channel(
            events,
            "All workflow and system events, keyed by workflow_id (an agent's heartbeats by "
            "its agent id, so that they spread over the partitions).",
            ["event"],
        ),
        "state": _channel(
            names.state,
            "Compacted; the latest versioned state of each workflow (key workflow_id); "
            "state_version grows by one per change.",
            ["workflowState"],
        ),
        "replies": _channel(
            replies,
            "Replies to requests: headers baton-request-id, baton-correlation-id, baton-status.",
            ["reply", "allocationResponse"],
        ),
        "eventsRetry": _channel(
            f"{events}.retry.{{level}}",
            "Events waiting for another attempt; the delay grows with the level.",
            ["event"],
            parameters=level,
        ),
        "eventsDeadLetters": _channel(
            TopicNames.dlq(events),
            "Events that could not be handled, with the reason in headers; they keep their "
            "value and key. Listed and replayed by `baton dlq`.",
            ["deadLetter"],
        ),
        "retry": _channel(
            "{source}.retry.{level}",
            "Retry topics of the other source topics.",
            ["event"],
            parameters={**source, **level},
        ),
        "deadLetters": _channel(
            "{source}.dlq",
            "Dead-letter topics of the other source topics.",
            ["deadLetter"],
            parameters=source,
        ),
    }
    for service in SERVICES:
        extra = ["allocationRequest"] if service == "resource" else []
        channels[f"commands{service.capitalize()}"] = _channel(
            names.commands(service),
            f"Requests to the {service} service: event lines with headers baton-request-id, "
            "baton-correlation-id and baton-reply-to; the event type names one of its commands "
            f"(listed in x-baton-commands), the reply's type is the command's with {REPLY_SUFFIX}.",
            ["request", *extra],
            **{
                "x-baton-commands": [c.value for c in COMMANDS[service]],
                "x-baton-command-contracts": {
                    c.value: {
                        "request": _ref(f"#/components/schemas/{REQUESTS[c].__name__}"),
                        "reply": reply_type(c.value),
                        "replySchema": _ref(f"#/components/schemas/{REPLIES[c].__name__}"),
                    }
                    for c in COMMANDS[service]
                },
            },
        )
    return channels


def _command_schemas() -> dict[str, Any]:
    """The JSON Schema of each command's request data and reply data, by model name."""
    models = [*REQUESTS.values(), *REPLIES.values()]
    return {
        model.__name__: model.model_json_schema(ref_template="#/components/schemas/{model}")
        for model in dict.fromkeys(models)
    }


def _operations() -> dict[str, Any]:
    def op(action: str, channel: str, summary: str, **extra: Any) -> dict[str, Any]:
        return {
            "action": action,
            "channel": _ref(f"#/channels/{channel}"),
            "summary": summary,
            **extra,
        }

    operations = {
        "publishEvent": op("send", "events", "Publish an event."),
        "receiveEvents": op("receive", "events", "Consume events matching a pattern."),
        "publishState": op("send", "state", "Publish a new state version of a workflow."),
        "receiveState": op("receive", "state", "Follow the state of workflows."),
        "receiveDeadLetters": op("receive", "eventsDeadLetters", "List dead letters."),
    }  # fmt: skip
    for service in SERVICES:
        channel = f"commands{service.capitalize()}"
        operations[f"request{service.capitalize()}"] = op(
            "send", channel, f"Send a request to the {service} service and await its reply.",
            reply={"channel": _ref("#/channels/replies"),
                   "address": {"location": f"$message.header#/{H.REPLY_TO}"}},
        )  # fmt: skip
        operations[f"serve{service.capitalize()}"] = op(
            "receive", channel, f"Answer requests as the {service} service."
        )
    return operations


def _messages() -> dict[str, Any]:
    def line_message(title: str, summary: str, headers: str, **extra: Any) -> dict[str, Any]:
        return {
            "title": title,
            "summary": summary,
            "contentType": "text/plain",
            "payload": _ref("#/components/schemas/eventLine"),
            "headers": _ref(f"#/components/schemas/{headers}"),
            "correlationId": {"location": f"$message.header#/{H.CORRELATION_ID}"},
            "bindings": {"kafka": {"bindingVersion": _KAFKA, "key": {
                "type": "string", "description": "The workflow_id of the line."}}},
            **extra,
        }  # fmt: skip

    registry = {
        spec.name: {"description": spec.description,
                    "fields": {f.name: list(f.kinds) for f in spec.fields}}
        for spec in DEFAULT_EVENTS.values()
    }  # fmt: skip
    messages = {
        "event": line_message("Event", "One workflow or system event.", "headers",
                              **{"x-baton-event-types": registry}),
        "request": line_message("Request", "An event line sent as a request.", "headers"),
        "reply": line_message("Reply", "The reply to a request (type <REQUEST_TYPE>_REPLY).",
                              "headers"),
        "deadLetter": line_message("Dead letter", "A failed record, value and key unchanged.",
                                   "deadLetterHeaders"),
    }  # fmt: skip
    for name, model in MESSAGE_MODELS.items():
        messages[_camel(name)] = line_message(
            model.__name__,
            f'An event line whose data is {{"{name}": {{...}}}} (see docs/protocol.md).',
            "headers",
            **{"x-data-schema": _ref(f"./{name}.schema.json")},
        )
    return messages


def _header_schema(dead_letter: bool) -> dict[str, Any]:
    names = sorted(_headers())
    if not dead_letter:
        names = [n for n in names if n not in _DEAD_LETTER_HEADERS]
    return {
        "type": "object",
        "description": "Kafka record headers; values are UTF-8. Plain clients may omit them.",
        "properties": {n: {"type": "string", "description": HEADER_DOCS.get(n, n)} for n in names},
    }


def asyncapi_document(*, names: TopicNames | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document as plain data (default topic names unless ``names``)."""
    names = names or TopicNames()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Baton",
            "version": PROTOCOL_VERSION,
            "description": "Multi-agent workflow coordination over Kafka. Every record value "
            "is one UTF-8 line EVENT_TYPE:workflow_id:phase:data (data a JSON object), keyed "
            "by workflow_id (AGENT_HEARTBEAT by its agent id). Generated by "
            "`baton schemas generate`; do not edit.",
        },
        "defaultContentType": "text/plain",
        "servers": {"local": {"host": LOCAL_KAFKA_BOOTSTRAP, "protocol": "kafka",
                              "description": "The broker of `baton stack up`."}},
        "channels": _channels(names),
        "operations": _operations(),
        "components": {
            "schemas": {
                "eventLine": {
                    "type": "string",
                    "pattern": LINE_PATTERN,
                    "maxLength": MAX_LINE_BYTES,
                    "description": "EVENT_TYPE:workflow_id:phase:data, split on the first three "
                    "colons. Readers also accept single-quoted data and a line wrapped in "
                    "double quotes; writers emit this normal form.",
                    "examples": ['PHASE_COMPLETED:wf_001:implementation:{"phase_id":"impl",'
                                 '"actual_duration":"45m","success_metrics":{"tests":15}}'],
                },
                "headers": _header_schema(dead_letter=False),
                "deadLetterHeaders": _header_schema(dead_letter=True),
                **_command_schemas(),
            },
            "messages": _messages(),
            "parameters": {"level": {"description": "Retry level, 1-based.",
                                     "enum": [str(n) for n in range(1, names.retry_levels + 1)]}},
        },
    }  # fmt: skip

"""Message signing: sign, verify, and every reason a record is quarantined."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import SecretStr

from baton.bus.transport import Record
from baton.errors import ProtocolError
from baton.protocol.event import Event, encode_record
from baton.protocol.headers import H, Headers
from baton.security.signing import KEY_ID, SIG, SIGNED_AT, QuarantineError
from baton.security.signing_middleware import SigningMiddleware
from baton.security.signing_policy import SigningPolicy

HUB = "hub:" + "h" * 32
AGENTS = "agents@2:" + "a" * 32


def middleware(key_id: str = "hub", **rules: object) -> SigningMiddleware:
    policy = SigningPolicy.build(
        keys=SecretStr(f"{HUB},{AGENTS}"),
        key_id=key_id,
        **rules,  # type: ignore[arg-type]
    )
    assert policy is not None
    return SigningMiddleware(policy=policy, stats=Counter())


def signed(
    signer: SigningMiddleware | None,
    line: str = "TASK_COMPLETED:wf_1:impl:{'task_id':'t1'}",
    *,
    offset: int = 0,
    topic: str = "baton.events",
    appended_ms: int | None = None,
) -> Record:
    event = Event.parse(line, source="baton-hub")
    key, value, headers = encode_record(event)
    if signer is not None:
        signer.sign(key=key, value=value, headers=headers)
    stamp = appended_ms if appended_ms is not None else int(event.timestamp.timestamp() * 1000)
    return Record(topic, 0, offset, key, value, headers, stamp)


def with_header(record: Record, name: str, value: bytes) -> Record:
    headers: Headers = [(k, v) for k, v in record.headers if k != name] + [(name, value)]
    return Record(
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value,
        headers,
        record.timestamp_ms,
    )


def reason(signer: SigningMiddleware, record: Record, event_type: str = "TASK_COMPLETED") -> str:
    with pytest.raises(QuarantineError) as caught:
        signer.verify(record, event_type=event_type)
    return f"{caught.value.part}: {caught.value.reason}"


def test_a_signed_record_verifies_and_carries_the_four_headers() -> None:
    signer = middleware()
    record = signed(signer)
    names = [k for k, _ in record.headers]
    assert {"baton-key-id", "baton-signed-at", "baton-nonce", "baton-sig"} <= set(names)
    signer.verify(record, event_type="TASK_COMPLETED")
    assert signer.stats["signed"] == 1


def test_two_sends_of_one_event_have_different_signatures() -> None:
    signer = middleware()
    event = Event.parse("TASK_COMPLETED:wf_1:impl:{}")
    sigs = set()
    for _ in range(2):
        key, value, headers = encode_record(event)
        signer.sign(key=key, value=value, headers=headers)
        sigs.add(dict(headers)[SIG])
    assert len(sigs) == 2


def test_resigning_replaces_an_old_signature() -> None:
    signer = middleware()
    record = signed(signer)
    headers = list(record.headers)
    signer.sign(key=record.key, value=record.value, headers=headers)
    assert [k for k, _ in headers].count(SIG) == 1


@pytest.mark.parametrize(
    ("change", "part"),
    [
        ("value", "header.baton-sig"),
        ("key", "header.baton-sig"),
        (H.EVENT_ID, "header.baton-sig"),
        (H.SOURCE, "header.baton-sig"),
        (H.ROUTING_KEY, "header.baton-sig"),
        (H.REPLY_TO, "header.baton-sig"),
        (SIGNED_AT, "header.baton-sig"),
        (SIG, "header.baton-sig"),
    ],
)
def test_tampering_with_any_signed_part_is_a_bad_signature(change: str, part: str) -> None:
    signer = middleware()
    record = signed(signer)
    if change == "value":
        value = (record.value or b"").replace(b"t1", b"t2")
        record = Record(record.topic, 0, 0, record.key, value, record.headers, record.timestamp_ms)
    elif change == "key":
        record = Record(
            record.topic, 0, 0, b"wf_2", record.value, record.headers, record.timestamp_ms
        )
    elif change == SIGNED_AT:
        stamp = int(dict(record.headers)[SIGNED_AT]) - 1
        record = with_header(record, SIGNED_AT, str(stamp).encode())
    else:
        record = with_header(record, change, b"0" * 64)
    assert reason(signer, record) == f"{part}: bad signature"


def test_headers_outside_the_signature_may_change() -> None:
    signer = middleware()
    record = with_header(
        signed(signer), "traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"
    )
    signer.verify(record, event_type="TASK_COMPLETED")


def test_unknown_key_and_a_forged_key_id() -> None:
    signer = middleware()
    stranger = SigningPolicy.build(keys=SecretStr("mallory:" + "m" * 32), key_id=None)
    assert stranger is not None
    record = signed(SigningMiddleware(policy=stranger))
    assert reason(signer, record) == "header.baton-key-id: unknown key"
    # Claiming a known key id without its secret is a bad signature.
    assert reason(signer, with_header(record, KEY_ID, b"hub")) == "header.baton-sig: bad signature"


def test_publisher_rules_bind_types_to_keys() -> None:
    rules = {"publishers": ("TASK_COMPLETED:agents", "TASK_ASSIGNED:hub")}
    hub, agent = middleware("hub", **rules), middleware("agents@2", **rules)
    assert hub.policy.allows("TASK_COMPLETED", "agents@2")  # publisher = part before @
    record = signed(hub)
    assert reason(hub, record) == "header.baton-key-id: publisher not allowed"
    hub.verify(signed(agent), event_type="TASK_COMPLETED")
    hub.verify(signed(hub, "TASK_ASSIGNED:wf_1:impl:{}"), event_type="TASK_ASSIGNED")
    hub.verify(signed(agent, "PHASE_PROGRESS:wf_1:impl:{}"), event_type="PHASE_PROGRESS")


def test_strict_types_quarantine_unsigned_events_and_others_are_counted() -> None:
    signer = middleware(strict=False, strict_types=("TASK_COMPLETED",))
    assert reason(signer, signed(None)) == "header.baton-sig: unsigned"
    signer.verify(signed(None, "PHASE_PROGRESS:wf_1:impl:{}"), event_type="PHASE_PROGRESS")
    assert signer.stats["unsigned_accepted"] == 1
    assert signer.stats["quarantined:unsigned"] == 1


def test_strict_mode_and_publisher_rules_make_every_listed_type_strict() -> None:
    strict = middleware(strict=True)
    assert reason(strict, signed(None, "PHASE_PROGRESS:wf_1:p:{}"), "PHASE_PROGRESS").endswith(
        "unsigned"
    )
    ruled = middleware(strict=False, publishers=("TASK_COMPLETED:agents",))
    assert reason(ruled, signed(None)) == "header.baton-sig: unsigned"


def test_a_copy_at_another_offset_is_replayed_a_redelivery_is_not() -> None:
    signer = middleware()
    record = signed(signer, offset=7)
    signer.verify(record, event_type="TASK_COMPLETED")
    signer.verify(record, event_type="TASK_COMPLETED")  # same position: redelivery
    copy = Record(record.topic, 1, 3, record.key, record.value, record.headers, record.timestamp_ms)
    assert reason(signer, copy) == "header.baton-sig: replayed"


def test_a_retry_copy_names_its_original_position_and_is_no_replay() -> None:
    signer = middleware()
    record = signed(signer, offset=7)
    signer.verify(record, event_type="TASK_COMPLETED")
    provenance = [
        (H.ORIGINAL_TOPIC, b"baton.events"),
        (H.ORIGINAL_PARTITION, b"0"),
        (H.ORIGINAL_OFFSET, b"7"),
        (H.ORIGINAL_TIMESTAMP, str(record.timestamp_ms).encode()),
    ]
    retry = Record(
        "baton.events.retry.1",
        0,
        0,
        record.key,
        record.value,
        [*record.headers, *provenance],
        record.timestamp_ms + 60_000,
    )
    signer.verify(retry, event_type="TASK_COMPLETED")
    # The same provenance on a topic that is no retry topic of the original is not believed.
    forged = Record(
        "baton.events",
        1,
        9,
        record.key,
        record.value,
        [*record.headers, *provenance],
        record.timestamp_ms,
    )
    assert reason(signer, forged) == "header.baton-sig: replayed"


def test_age_is_append_time_minus_signing_time() -> None:
    signer = middleware(max_age=60.0)
    record = signed(signer)
    stamp = int(dict(record.headers)[SIGNED_AT])
    late = Record(record.topic, 0, 1, record.key, record.value, record.headers, stamp + 61_000)
    assert reason(signer, late) == "header.baton-signed-at: too old"
    early = Record(record.topic, 0, 2, record.key, record.value, record.headers, stamp - 61_000)
    assert reason(signer, early) == "header.baton-signed-at: bad time"
    # Read a day later, appended on time: accepted (a consumer catching up after an outage).
    on_time = Record(record.topic, 0, 3, record.key, record.value, record.headers, stamp + 5)
    signer.verify(on_time, event_type="TASK_COMPLETED")


def test_the_seen_set_is_bounded() -> None:
    signer = middleware(seen_size=100)
    for offset in range(150):
        signer.verify(signed(signer, offset=offset), event_type="TASK_COMPLETED")
    assert len(signer.seen) == 100
    assert signer.seen.forgotten == 50


def test_record_limits_are_checked_when_verifying() -> None:
    signer = middleware()
    record = signed(signer)
    big = Record(record.topic, 0, 0, b"k" * 2000, record.value, record.headers, 0)
    with pytest.raises(ProtocolError) as caught:
        signer.verify(big, event_type="TASK_COMPLETED")
    assert caught.value.part == "key"
    many = with_header(record, "x-big", b"x" * 70_000)
    with pytest.raises(ProtocolError) as caught:
        signer.verify(many, event_type="TASK_COMPLETED")
    assert caught.value.part == "headers"


def test_a_failed_verdict_is_given_once_per_record_for_every_handler() -> None:
    signer = middleware(strict=True)
    record = signed(None)
    event = Event.parse("TASK_COMPLETED:wf_1:impl:{}")
    for _ in range(2):
        with (
            pytest.raises(QuarantineError),
            signer.consume_scope(record=record, event=event, group="g"),
        ):
            raise AssertionError("the handler must not run")
    assert signer.stats["quarantined"] == 1

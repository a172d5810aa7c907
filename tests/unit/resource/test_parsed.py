"""Stored records parsed once per text: the same record for the same text, a new one for a
changed row, and no more than twice the limit kept."""

from __future__ import annotations

import orjson

from baton_resource.parsed import Parsed
from baton_resource.records import QueuedRequest
from tests.unit.resource.support import T0, make


def _text(request_id: str, *, seq: int = 0) -> str:
    entry = QueuedRequest(request=make(request_id, "wf_a"), queued_at=T0, seq=seq)
    return orjson.dumps(entry.model_dump(mode="json")).decode()


def test_a_text_read_again_is_the_same_record_and_a_changed_one_is_parsed() -> None:
    parse = Parsed(QueuedRequest, limit=8)
    first = parse(_text("req_a"))
    assert parse(_text("req_a")) is first
    assert first == QueuedRequest.model_validate(orjson.loads(_text("req_a")))
    changed = parse(_text("req_a", seq=1))
    assert changed is not first
    assert changed.seq == 1


def test_what_is_read_again_stays_and_the_rest_goes() -> None:
    parse = Parsed(QueuedRequest, limit=2)
    texts = [_text(f"req_{i}") for i in range(5)]
    kept = parse(texts[0])
    for text in texts[1:]:
        parse(text)
        assert parse(texts[0]) is kept  # read by every operation: never dropped
    assert len(parse) <= 4
    assert parse(texts[1]) == QueuedRequest.model_validate(orjson.loads(texts[1]))

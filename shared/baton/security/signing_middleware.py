"""Message signing as bus middleware: sign what is sent, quarantine what fails verification.

The :class:`~baton.bus.bus.Bus` installs it when any signing key is set
(:mod:`baton.security.signing_policy`), so every service, the CLI and the client sign and
verify without code of their own. Keys come from a
:class:`~baton.security.signing_keys.KeyRing`, re-read when their files change. Signing needs
the record's key and value, which ``publish_scope`` does not see, so the bus calls
:meth:`SigningMiddleware.sign` itself right before a record goes to the producer; retry and
dead-letter copies are sent unchanged (their signature stays the publisher's).

Verification runs in ``consume_scope``, before the handler: a record that fails raises
:class:`~baton.security.signing.QuarantineError` (not retriable), so the bus puts it in the
dead-letter topic with ``baton-error-part`` (``header.baton-sig``...) and the reason as the
message, and the handler never runs. Checks, in order: record limits; signed at all (else
``unsigned`` when the type is strict — every type unless ``BATON_SIGNING_STRICT=false`` —
or accepted and counted as ``unsigned_accepted``); ``unknown key`` (after re-reading the
key files, in case the key was just added); ``bad signature``; ``publisher not allowed``;
``too old`` / ``bad time``; ``replayed`` (:mod:`baton.security.signing_replay`).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING

from baton.bus.transport import Record
from baton.errors import ProtocolError
from baton.protocol.event import Event
from baton.protocol.headers import H, Headers
from baton.protocol.limits import check_record
from baton.security.signing import (
    KEY_ID,
    NONCE,
    SIG,
    SIGNED_AT,
    QuarantineError,
    add_signature,
    signed_content,
)
from baton.security.signing_keys import KeyRing
from baton.security.signing_policy import SigningPolicy
from baton.security.signing_replay import Position, SeenSet

if TYPE_CHECKING:
    from baton.config import BatonSettings

__all__ = ["SigningMiddleware"]

log = logging.getLogger("baton.security.signing")

_RETRY_TOPIC = re.compile(r"(.+)\.retry\.\d+")
_NULL = nullcontext()


class SigningMiddleware:
    """Signs published records and verifies consumed ones (module doc).

    Args:
        policy: Keys and rules.
        stats: Counter to count into (the bus's, exported as ``baton_bus`` metrics).
    """

    def __init__(self, *, policy: SigningPolicy, stats: Counter[str] | None = None) -> None:
        self.policy = policy
        self.stats: Counter[str] = stats if stats is not None else Counter()
        self.seen = SeenSet(size=policy.seen_size)
        self.ring = KeyRing(
            sources=policy.sources,
            key_id=policy.key_choice,
            interval=policy.reload_interval,
            initial=policy.keys,
        )
        if not policy.strict:
            log.warning(
                "BATON_SIGNING_STRICT=false: unsigned events are accepted except of the "
                "types in BATON_SIGNING_STRICT_TYPES and BATON_SIGNING_PUBLISHERS"
            )
        if policy.key_id is None:
            log.warning("no signing key held (only public keys): this process signs nothing")
        self._last: tuple[Record, ProtocolError | None] | None = None
        self._lenient_logged: set[str] = set()

    @classmethod
    def from_settings(
        cls, settings: BatonSettings, *, stats: Counter[str] | None = None
    ) -> SigningMiddleware | None:
        """The middleware ``settings`` ask for, or None when signing is off."""
        policy = settings.signing_policy
        return None if policy is None else cls(policy=policy, stats=stats)

    # -- publishing ------------------------------------------------------------------------

    def sign(self, *, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        """Add this process's signature (its newest key's) to a record about to be sent."""
        signer = self.ring.signer()
        if signer is None:
            return
        add_signature(headers, signer=signer, key=key, value=value)
        self.stats["signed"] += 1

    def publish_scope(
        self, *, topic: str, event: Event, headers: Headers
    ) -> AbstractContextManager[None]:
        return _NULL  # the bus signs once the record's bytes exist (module doc)

    # -- consuming -------------------------------------------------------------------------

    def consume_scope(
        self, *, record: Record, event: Event | None, group: str
    ) -> AbstractContextManager[None]:
        return self._consume(record, event)

    @contextmanager
    def _consume(self, record: Record, event: Event | None) -> Iterator[None]:
        # One verdict per record: a record with several handlers is verified once.
        last = self._last
        if last is not None and last[0] is record:
            error = last[1]
        else:
            error = None
            try:
                self.verify(record, event_type=event.event_type if event else "")
            except ProtocolError as exc:
                error = exc
            self._last = (record, error)
        if error is not None:
            raise error
        yield

    def verify(self, record: Record, *, event_type: str) -> None:
        """Accept ``record`` or raise why not.

        Raises:
            QuarantineError: unsigned (strict type), unknown key, bad signature, publisher
                not allowed, too old, bad time, replayed.
            ProtocolError: the record's key or headers are over their limits.
        """
        try:
            check_record(key=record.key, headers=record.headers)
        except ProtocolError:
            self.stats["quarantined"] += 1
            raise
        try:
            self._verify(record, event_type)
        except QuarantineError as exc:
            self.stats["quarantined"] += 1
            self.stats[f"quarantined:{exc.reason}"] += 1
            raise

    def _verify(self, record: Record, event_type: str) -> None:
        h = dict(record.headers)
        sig = h.get(SIG)
        if sig is None:
            if self.policy.must_sign(event_type):
                raise QuarantineError("unsigned", part=f"header.{SIG}", event_type=event_type)
            self.stats["unsigned_accepted"] += 1
            if event_type not in self._lenient_logged:  # once per type, not per record
                self._lenient_logged.add(event_type)
                log.warning("accepting unsigned %s events (type not strict)", event_type)
            return
        raw_kid = h.get(KEY_ID, b"")
        kid = raw_kid.decode("utf-8", "replace")
        keys = self.ring.current()
        ed25519 = keys.kind(kid)
        if ed25519 is None and self.ring.refresh():  # a key added a moment ago?
            keys = self.ring.keys
            ed25519 = keys.kind(kid)
        if ed25519 is None:
            raise QuarantineError("unknown key", part=f"header.{KEY_ID}", key_id=kid[:64])
        signed_at, nonce = h.get(SIGNED_AT), h.get(NONCE)
        if signed_at is None or nonce is None or not signed_at.isdigit():
            raise QuarantineError("bad signature", part=f"header.{SIGNED_AT}")
        content = signed_content(
            ed25519=ed25519,
            key_id=raw_kid,
            signed_at=signed_at,
            nonce=nonce,
            key=record.key,
            value=record.value,
            headers=h,
        )
        if not keys.check(kid, content=content, signature=sig):
            raise QuarantineError("bad signature", part=f"header.{SIG}", key_id=kid)
        if not self.policy.allows(event_type, kid):
            raise QuarantineError(
                "publisher not allowed",
                part=f"header.{KEY_ID}",
                key_id=kid,
                event_type=event_type,
            )
        position, appended_ms = _origin(record, h)
        age = appended_ms - int(signed_at)
        if age > self.policy.max_age_ms:
            raise QuarantineError("too old", part=f"header.{SIGNED_AT}", age_ms=age)
        if age < -self.policy.max_age_ms:
            raise QuarantineError("bad time", part=f"header.{SIGNED_AT}", age_ms=age)
        if not self.seen.check(sig, position):
            raise QuarantineError("replayed", part=f"header.{SIG}", key_id=kid)


def _origin(record: Record, h: dict[str, bytes]) -> tuple[Position, int]:
    """Where and when a record was first appended: a retry copy's original, else itself.

    The ``baton-original-*`` headers are believed only on a retry topic of the topic they
    name, where only the bus writes copies.
    """
    original = h.get(H.ORIGINAL_TOPIC)
    if original is not None:
        retry = _RETRY_TOPIC.fullmatch(record.topic)
        try:
            if retry is not None and retry.group(1) == original.decode():
                position = (
                    original.decode(),
                    int(h.get(H.ORIGINAL_PARTITION, b"")),
                    int(h.get(H.ORIGINAL_OFFSET, b"")),
                )
                return position, int(h.get(H.ORIGINAL_TIMESTAMP, b""))
        except (ValueError, UnicodeDecodeError):
            pass  # malformed bookkeeping: judged as the record it is
    return (record.topic, record.partition, record.offset), record.timestamp_ms

"""Signatures of Kafka records (Ed25519 or HMAC-SHA256): what is signed, and the headers.

A producer adds four headers to each record it publishes:

- ``baton-key-id``: the key used (it names the publisher, see
  :mod:`baton.security.signing_policy`);
- ``baton-signed-at``: milliseconds since the epoch when it was signed;
- ``baton-nonce``: 16 random hex digits, fresh for every send, so two sends of one event
  (an outbox relay re-sending after a crash, a request sent again) differ and a byte-exact
  copy of a record is recognisable as one (:mod:`baton.security.signing_replay`);
- ``baton-sig``: lower-case hex signature over the canonical content below: Ed25519 for
  a key pair, HMAC-SHA256 for a shared secret (:mod:`baton.security.signing_keys`).

The signed content does not depend on the topic, partition or offset, and leaves out the
headers the bus rewrites on the way (retry and dead-letter bookkeeping, trace context), so
a retry copy keeps a valid signature. It is, each part length-prefixed (4 bytes, big
endian; ``0xFFFFFFFF`` for an absent part) after the tag (``baton-ed25519-v1`` or
``baton-sig-v1``, so a signature of one kind never passes for the other): key id, signed-at,
nonce, record key, record value, then the values of :data:`SIGNED_HEADERS` in that order.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Mapping
from typing import Any, Final

from baton.errors import ProtocolError
from baton.protocol.headers import H, Headers
from baton.security.signing_keys import Signer

__all__ = [
    "KEY_ID",
    "NONCE",
    "SIG",
    "SIGNATURE_HEADERS",
    "SIGNED_AT",
    "SIGNED_HEADERS",
    "QuarantineError",
    "add_signature",
    "compute",
    "signed_content",
]

KEY_ID: Final = "baton-key-id"
SIGNED_AT: Final = "baton-signed-at"
NONCE: Final = "baton-nonce"
SIG: Final = "baton-sig"
SIGNATURE_HEADERS: Final = frozenset({KEY_ID, SIGNED_AT, NONCE, SIG})

SIGNED_HEADERS: Final = (
    H.EVENT_ID,
    H.TIMESTAMP,
    H.SOURCE,
    H.VERSION,
    H.ROUTING_KEY,
    H.CORRELATION_ID,
    H.REQUEST_ID,
    H.REPLY_TO,
    H.STATUS,
)
"""The event's own headers, and a reply's status (read only by the requester, which never
makes retry copies: the bus drops ``baton-status`` from those)."""

_TAG: Final = b"baton-sig-v1"
_ED25519_TAG: Final = b"baton-ed25519-v1"
_ABSENT: Final = b"\xff\xff\xff\xff"


class QuarantineError(ProtocolError):
    """A record refused before any handler ran: unsigned, tampered, replayed...

    Not retriable, so the bus dead-letters it at once with ``part`` and ``reason``.

    Attributes:
        reason: ``unsigned``, ``bad signature``, ``unknown key``, ``publisher not allowed``,
            ``replayed``, ``too old``, ``bad time`` or ``over limit``.
    """

    def __init__(self, reason: str, *, part: str, **fields: Any) -> None:
        super().__init__(reason, part=part, reason=reason, **fields)
        self.reason = reason


def _part(value: bytes | None) -> bytes:
    if value is None:
        return _ABSENT
    return len(value).to_bytes(4, "big") + value


def signed_content(
    *,
    ed25519: bool,
    key_id: bytes,
    signed_at: bytes,
    nonce: bytes,
    key: bytes | None,
    value: bytes | None,
    headers: Mapping[str, bytes],
) -> bytes:
    """The bytes a record's signature covers (module doc)."""
    parts = [_ED25519_TAG if ed25519 else _TAG]
    parts += [_part(p) for p in (key_id, signed_at, nonce, key, value)]
    parts += [_part(headers.get(name)) for name in SIGNED_HEADERS]
    return b"".join(parts)


def compute(
    secret: bytes,
    *,
    key_id: bytes,
    signed_at: bytes,
    nonce: bytes,
    key: bytes | None,
    value: bytes | None,
    headers: Mapping[str, bytes],
) -> bytes:
    """The hex HMAC-SHA256 signature of a record's signed content (module doc)."""
    content = signed_content(
        ed25519=False,
        key_id=key_id,
        signed_at=signed_at,
        nonce=nonce,
        key=key,
        value=value,
        headers=headers,
    )
    # One-shot digest: the C fast path, about twice as fast as update() per part.
    return hmac.digest(secret, content, "sha256").hex().encode()


def add_signature(
    headers: Headers, *, signer: Signer, key: bytes | None, value: bytes | None
) -> None:
    """Sign a record: replace any signature headers in ``headers`` with fresh ones."""
    if any(k in SIGNATURE_HEADERS for k, _ in headers):  # a re-sent event's old signature
        headers[:] = [(k, v) for k, v in headers if k not in SIGNATURE_HEADERS]
    kid = signer.key_id.encode()
    signed_at = str(time.time_ns() // 1_000_000).encode()
    nonce = os.urandom(8).hex().encode()
    content = signed_content(
        ed25519=signer.ed25519,
        key_id=kid,
        signed_at=signed_at,
        nonce=nonce,
        key=key,
        value=value,
        headers=dict(headers),
    )
    headers += [(KEY_ID, kid), (SIGNED_AT, signed_at), (NONCE, nonce), (SIG, signer.sign(content))]

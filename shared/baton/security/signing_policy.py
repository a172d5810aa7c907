"""Who signs with which key, and what a consumer accepts: parsed from ``BATON_SIGNING_*``.

- ``BATON_SIGNING_PRIVATE_KEYS`` / ``BATON_SIGNING_PUBLIC_KEYS``: Ed25519 keys, a directory
  of ``<key id>.key`` / ``<key id>.pub`` files or one file
  (:mod:`baton.security.signing_keys`). A publisher holds its private key, verifiers the
  publishers' public keys.
- ``BATON_SIGNING_KEYS`` (or ``BATON_SIGNING_KEYS_FILE``, a mounted secret): HMAC secrets,
  ``id:secret[,id:secret...]``. A secret is at least 32 bytes (``openssl rand -hex 32``)
  and holds no comma; the id is ``[A-Za-z0-9_.@-]{1,64}``.
- ``BATON_SIGNING_KEY_ID``: the key, or the publisher whose newest key, this process signs
  with (optional when the keys held are one publisher's).
- ``BATON_SIGNING_STRICT`` (default true once any key is set) / ``BATON_SIGNING_STRICT_TYPES``:
  unsigned events of every type / of these types are quarantined. Types named in the
  publisher rules are strict too (an unsigned event cannot show who published it).
  ``BATON_SIGNING_STRICT=false`` lets unsigned events of other types in while publishers
  are being given keys; it is logged as a warning at start.
- ``BATON_SIGNING_PUBLISHERS``: ``TYPE:publisher[|publisher...]`` entries, comma-separated;
  a type may repeat. A publisher is a key id, or the key id without its version
  (``hub.v2`` and ``hub@2025`` are publisher ``hub``, so keys rotate without touching the
  rules).
- ``BATON_SIGNING_MAX_AGE``: seconds a record may be appended after it was signed.
- ``BATON_SIGNING_SEEN_SIZE``: signatures the replay check remembers.
- ``BATON_SIGNING_RELOAD_INTERVAL``: seconds between checks of the key files for changes.

No keys: signing is off and nothing else here is looked at.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from baton.security.signing_key_files import KEY_ID
from baton.security.signing_keys import KeySet, KeySources, publisher_of

__all__ = ["MIN_SECRET_BYTES", "SigningPolicy", "parse_keys", "parse_publishers", "publisher_of"]

log = logging.getLogger("baton.security.signing")

MIN_SECRET_BYTES: Final = 32
"""Shortest HMAC secret: 256 bits, the size of the SHA-256 block's key it fills."""
_EVENT_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,127}")
_PUBLISHER = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def parse_keys(raw: SecretStr | str) -> dict[str, bytes]:
    """``id:secret,...`` → key id → secret bytes.

    Raises:
        ValueError: a malformed entry; the message never contains a secret.
    """
    keys: dict[str, bytes] = {}
    text = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
    for number, entry in enumerate(text.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        key_id, colon, secret = entry.partition(":")
        key_id = key_id.strip()
        if not colon or KEY_ID.fullmatch(key_id) is None:
            raise ValueError(f"entry {number} is not id:secret with id [A-Za-z0-9_.@-]{{1,64}}")
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the secret of key {key_id!r} is under {MIN_SECRET_BYTES} bytes "
                "(make one with `openssl rand -hex 32`)"
            )
        if key_id in keys:
            raise ValueError(f"key {key_id!r} is given twice")
        keys[key_id] = secret.encode()
    if not keys:
        raise ValueError("no id:secret entry")
    return keys


def parse_publishers(entries: Iterable[str]) -> dict[str, frozenset[str]]:
    """``TYPE:pub|pub`` entries → event type → allowed publishers.

    Raises:
        ValueError: a malformed entry (named in the message).
    """
    rules: dict[str, set[str]] = {}
    for entry in entries:
        event_type, colon, names = entry.strip().partition(":")
        publishers = {p.strip() for p in names.split("|") if p.strip()}
        if (
            not colon
            or _EVENT_TYPE.fullmatch(event_type) is None
            or not publishers
            or any(_PUBLISHER.fullmatch(p) is None for p in publishers)
        ):
            raise ValueError(f"{entry!r} is not TYPE:publisher[|publisher]")
        rules.setdefault(event_type, set()).update(publishers)
    return {t: frozenset(p) for t, p in rules.items()}


@dataclass(frozen=True, slots=True)
class SigningPolicy:
    """Keys and acceptance rules of one process (see the module doc).

    Attributes:
        keys: The keys held at start.
        key_id: The key this process signs with at start (None: it signs nothing).
        strict: Every event type must be signed.
        strict_types: These types must be signed.
        publishers: Event type → publishers allowed to sign it (unlisted types: any key).
        max_age_ms: Most milliseconds between signing and appending a record.
        seen_size: Signatures remembered for the replay check.
        sources: Where the keys are read again from when they change.
        key_choice: ``BATON_SIGNING_KEY_ID`` as given (a key or a publisher).
        reload_interval: Least seconds between two checks of the key files.
    """

    keys: KeySet = field(repr=False)
    key_id: str | None
    strict: bool = True
    strict_types: frozenset[str] = frozenset()
    publishers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    max_age_ms: int = 600_000
    seen_size: int = 50_000
    sources: KeySources = field(default_factory=KeySources, repr=False)
    key_choice: str | None = None
    reload_interval: float = 5.0

    @classmethod
    def build(
        cls,
        *,
        keys: SecretStr | None,
        key_id: str | None,
        strict: bool | None = None,
        strict_types: Iterable[str] = (),
        publishers: Iterable[str] = (),
        max_age: float = 600.0,
        seen_size: int = 50_000,
        keys_file: Path | None = None,
        public_keys: Path | None = None,
        private_keys: Path | None = None,
        reload_interval: float = 5.0,
    ) -> SigningPolicy | None:
        """The policy, or None when no keys are configured (signing off).

        Args:
            strict: None: strict (the default once any key is set).
            keys_file: The file ``keys`` was read from, read again when it changes.

        Raises:
            ValueError: inconsistent settings; the message names the variable.
        """
        if keys is None and public_keys is None and private_keys is None:
            if key_id or strict is not None or strict_types or publishers:
                raise ValueError(
                    "BATON_SIGNING_* is set but no keys are (BATON_SIGNING_KEYS, "
                    "BATON_SIGNING_PUBLIC_KEYS or BATON_SIGNING_PRIVATE_KEYS)"
                )
            return None
        try:
            secrets = parse_keys(keys) if keys is not None else {}
        except ValueError as exc:
            raise ValueError(f"BATON_SIGNING_KEYS: {exc}") from None
        sources = KeySources(
            secrets=secrets,
            secrets_file=keys_file if keys is not None else None,
            parse_secrets=_parse_file_keys,
            public=public_keys,
            private=private_keys,
        )
        held = sources.load()
        signer = held.signer(key_id)
        try:
            rules = parse_publishers(publishers)
        except ValueError as exc:
            raise ValueError(f"BATON_SIGNING_PUBLISHERS: {exc}") from None
        bad = sorted(t for t in strict_types if _EVENT_TYPE.fullmatch(t) is None)
        if bad:
            raise ValueError(f"BATON_SIGNING_STRICT_TYPES: {bad[0]!r} is not an event type")
        return cls(
            keys=held,
            key_id=signer.key_id if signer is not None else None,
            strict=strict is not False,
            strict_types=frozenset(strict_types) | frozenset(rules),
            publishers=rules,
            max_age_ms=int(max_age * 1000),
            seen_size=seen_size,
            sources=sources,
            key_choice=key_id,
            reload_interval=reload_interval,
        )

    def must_sign(self, event_type: str) -> bool:
        """Whether an unsigned event of ``event_type`` is quarantined."""
        return self.strict or event_type in self.strict_types

    def allows(self, event_type: str, key_id: str) -> bool:
        """Whether the holder of ``key_id`` may publish ``event_type``."""
        allowed = self.publishers.get(event_type)
        return allowed is None or key_id in allowed or publisher_of(key_id) in allowed


def _parse_file_keys(text: str) -> dict[str, bytes]:
    try:
        return parse_keys(text)
    except ValueError as exc:
        raise ValueError(f"BATON_SIGNING_KEYS_FILE: {exc}") from None

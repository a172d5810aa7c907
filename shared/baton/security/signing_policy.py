"""Who signs with which key, and what a consumer accepts: parsed from ``BATON_SIGNING_*``.

- ``BATON_SIGNING_KEYS`` (or ``BATON_SIGNING_KEYS_FILE``, a mounted secret):
  ``id:secret[,id:secret...]``. A secret is at least 16 characters (``openssl rand -hex 32``)
  and holds no comma; the id is ``[A-Za-z0-9_.@-]{1,64}``.
- ``BATON_SIGNING_KEY_ID``: the key this process signs with (optional with one key).
- ``BATON_SIGNING_STRICT`` / ``BATON_SIGNING_STRICT_TYPES``: unsigned events of every type /
  of these types are quarantined. Types named in the publisher rules are strict too (an
  unsigned event cannot show who published it).
- ``BATON_SIGNING_PUBLISHERS``: ``TYPE:publisher[|publisher...]`` entries, comma-separated;
  a type may repeat. A publisher is a key id, or its part before ``@`` (``hub@2025`` is
  publisher ``hub``, so keys rotate without touching the rules).
- ``BATON_SIGNING_MAX_AGE``: seconds a record may be appended after it was signed.
- ``BATON_SIGNING_SEEN_SIZE``: signatures the replay check remembers.

No keys: signing is off and nothing else here is looked at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from pydantic import SecretStr

__all__ = ["MIN_SECRET_CHARS", "SigningPolicy", "parse_keys", "parse_publishers", "publisher_of"]

MIN_SECRET_CHARS: Final = 16
_KEY_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_EVENT_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,127}")
_PUBLISHER = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def publisher_of(key_id: str) -> str:
    """The publisher a key id stands for: ``hub@2025`` → ``hub``."""
    return key_id.partition("@")[0]


def parse_keys(raw: SecretStr) -> dict[str, bytes]:
    """``id:secret,...`` → key id → secret bytes.

    Raises:
        ValueError: a malformed entry; the message never contains a secret.
    """
    keys: dict[str, bytes] = {}
    for number, entry in enumerate(raw.get_secret_value().split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        key_id, colon, secret = entry.partition(":")
        key_id = key_id.strip()
        if not colon or _KEY_ID.fullmatch(key_id) is None:
            raise ValueError(f"entry {number} is not id:secret with id [A-Za-z0-9_.@-]{{1,64}}")
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"the secret of key {key_id!r} is under {MIN_SECRET_CHARS} chars")
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
        keys: Key id → secret.
        key_id: The key this process signs with.
        strict: Every event type must be signed.
        strict_types: These types must be signed.
        publishers: Event type → publishers allowed to sign it (unlisted types: any key).
        max_age_ms: Most milliseconds between signing and appending a record.
        seen_size: Signatures remembered for the replay check.
    """

    keys: Mapping[str, bytes] = field(repr=False)
    key_id: str
    strict: bool = False
    strict_types: frozenset[str] = frozenset()
    publishers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    max_age_ms: int = 600_000
    seen_size: int = 50_000

    @classmethod
    def build(
        cls,
        *,
        keys: SecretStr | None,
        key_id: str | None,
        strict: bool = False,
        strict_types: Iterable[str] = (),
        publishers: Iterable[str] = (),
        max_age: float = 600.0,
        seen_size: int = 50_000,
    ) -> SigningPolicy | None:
        """The policy, or None when no keys are configured (signing off).

        Raises:
            ValueError: inconsistent settings; the message names the variable.
        """
        if keys is None:
            if key_id or strict or strict_types or publishers:
                raise ValueError("BATON_SIGNING_* is set but BATON_SIGNING_KEYS is not")
            return None
        try:
            parsed = parse_keys(keys)
        except ValueError as exc:
            raise ValueError(f"BATON_SIGNING_KEYS: {exc}") from None
        if key_id is None:
            if len(parsed) != 1:
                raise ValueError("BATON_SIGNING_KEY_ID must name one of several signing keys")
            key_id = next(iter(parsed))
        elif key_id not in parsed:
            raise ValueError(f"BATON_SIGNING_KEY_ID {key_id!r} is not in BATON_SIGNING_KEYS")
        try:
            rules = parse_publishers(publishers)
        except ValueError as exc:
            raise ValueError(f"BATON_SIGNING_PUBLISHERS: {exc}") from None
        bad = sorted(t for t in strict_types if _EVENT_TYPE.fullmatch(t) is None)
        if bad:
            raise ValueError(f"BATON_SIGNING_STRICT_TYPES: {bad[0]!r} is not an event type")
        return cls(
            keys=parsed,
            key_id=key_id,
            strict=strict,
            strict_types=frozenset(strict_types) | frozenset(rules),
            publishers=rules,
            max_age_ms=int(max_age * 1000),
            seen_size=seen_size,
        )

    def must_sign(self, event_type: str) -> bool:
        """Whether an unsigned event of ``event_type`` is quarantined."""
        return self.strict or event_type in self.strict_types

    def allows(self, event_type: str, key_id: str) -> bool:
        """Whether the holder of ``key_id`` may publish ``event_type``."""
        allowed = self.publishers.get(event_type)
        return allowed is None or key_id in allowed or publisher_of(key_id) in allowed

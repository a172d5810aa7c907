"""Signing keys: HMAC secrets and Ed25519 key pairs, read from files and re-read when they change.

Two kinds of keys sign the same content (:mod:`baton.security.signing`):

- HMAC-SHA256 secrets (``BATON_SIGNING_KEYS``): whoever verifies with a secret can also
  sign with it.
- Ed25519 key pairs: a publisher signs with its private key
  (``BATON_SIGNING_PRIVATE_KEYS``), verifiers hold public keys only
  (``BATON_SIGNING_PUBLIC_KEYS``), so no verifier can sign as another publisher.

Both key paths are a directory of ``<key id>.key`` / ``<key id>.pub`` files (a mounted
secret or config map) or one such file. A key id names its publisher and version:
``hub.v2`` (or ``hub@2``) is version 2 of publisher ``hub``. A verifier accepts every key
it holds; a publisher signs with the newest version it holds, so a rotation is: add
``hub.v2.pub`` to the verifiers, then ``hub.v2.key`` to the publisher, then remove the v1
files once the records signed with v1 have been consumed.

:class:`KeyRing` re-reads the files without a restart: it compares their modification
times at most every ``BATON_SIGNING_RELOAD_INTERVAL`` seconds, and at once (at most once
a second) when a record names a key it does not hold. A file that fails to load then is
logged and the keys held so far stay in use.
"""

from __future__ import annotations

import binascii
import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from baton.security.signing_key_files import load_private_keys, load_public_keys

if TYPE_CHECKING:  # cryptography is imported where keys are loaded: ~80 ms at every start
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "KeyRing",
    "KeySet",
    "KeySources",
    "Signer",
    "key_version",
    "publisher_of",
]

log = logging.getLogger("baton.security.signing")

_VERSION = re.compile(r"(?:\.v|@v?)(\d{1,9})")
_REFRESH_GAP: Final = 1.0
"""Least seconds between two re-reads asked for by a record naming an unknown key."""


def publisher_of(key_id: str) -> str:
    """The publisher a key id stands for: ``hub.v2``, ``hub@2025`` → ``hub``."""
    version = _VERSION.search(key_id)
    if version is not None and version.end() == len(key_id):
        return key_id[: version.start()]
    return key_id.partition("@")[0]


def key_version(key_id: str) -> int:
    """The version a key id carries (``hub.v2`` → 2), -1 for none."""
    version = _VERSION.search(key_id)
    return int(version.group(1)) if version is not None and version.end() == len(key_id) else -1


@dataclass(frozen=True, slots=True)
class Signer:
    """The key a process signs with.

    Attributes:
        key_id: Its id, sent in ``baton-key-id``.
        ed25519: Ed25519 (else HMAC-SHA256).
        sign: Signature of the signed content, as lower-case hex.
    """

    key_id: str
    ed25519: bool
    sign: Callable[[bytes], bytes] = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeySet:
    """Keys held at one moment.

    Attributes:
        secrets: HMAC key id → secret.
        public: Ed25519 key id → public key (what a verifier holds).
        private: Ed25519 key id → private key (what a publisher signs with).
    """

    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    public: Mapping[str, Ed25519PublicKey] = field(default_factory=dict, repr=False)
    private: Mapping[str, Ed25519PrivateKey] = field(default_factory=dict, repr=False)

    def __bool__(self) -> bool:
        return bool(self.secrets or self.public or self.private)

    def signer(self, key_id: str | None) -> Signer | None:
        """The key to sign with: ``key_id`` itself, else the newest version of the
        publisher ``key_id`` names (or of the only publisher held); Ed25519 before HMAC.

        Raises:
            ValueError: several publishers and no ``key_id``, or ``key_id`` matches none.
        """
        for keys in (self.private, self.secrets):
            if not keys:
                continue
            if key_id is not None and key_id in keys:
                return _signer(key_id, keys[key_id])
            publishers = {publisher_of(k) for k in keys}
            if key_id is None and len(publishers) > 1:
                raise ValueError(
                    "BATON_SIGNING_KEY_ID must name the publisher (or key) to sign as: "
                    f"keys of {len(publishers)} publishers are held"
                )
            wanted = key_id if key_id is not None else next(iter(publishers))
            mine = [k for k in keys if publisher_of(k) == wanted]
            if mine:
                newest = max(mine, key=lambda k: (key_version(k), k))
                return _signer(newest, keys[newest])
        if key_id is not None and (self.private or self.secrets):
            raise ValueError(f"BATON_SIGNING_KEY_ID {key_id!r} names no key held")
        return None

    def kind(self, key_id: str) -> bool | None:
        """Whether ``key_id`` is an Ed25519 key (True), an HMAC one (False), or unknown."""
        if key_id in self.public:
            return True
        if key_id in self.secrets:
            return False
        return None

    def check(self, key_id: str, *, content: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (hex) is ``key_id``'s over ``content``, which is that key
        kind's content (:func:`baton.security.signing.signed_content`)."""
        public = self.public.get(key_id)
        if public is not None:
            from cryptography.exceptions import InvalidSignature

            try:
                public.verify(binascii.unhexlify(signature), content)
            except (InvalidSignature, binascii.Error, ValueError):
                return False
            return True
        expected = hmac.digest(self.secrets[key_id], content, "sha256").hex().encode()
        return hmac.compare_digest(expected, signature)


def _signer(key_id: str, key: bytes | Ed25519PrivateKey) -> Signer:
    if not isinstance(key, bytes):
        return Signer(
            key_id=key_id, ed25519=True, sign=lambda content: key.sign(content).hex().encode()
        )
    return Signer(
        key_id=key_id,
        ed25519=False,
        # One-shot digest: the C fast path, about twice as fast as update() per part.
        sign=lambda content: hmac.digest(key, content, "sha256").hex().encode(),
    )


@dataclass(frozen=True, slots=True)
class KeySources:
    """Where keys come from, to read them again.

    Attributes:
        secrets: HMAC secrets given inline (``BATON_SIGNING_KEYS``), parsed.
        secrets_file: The file they were read from (``BATON_SIGNING_KEYS_FILE``), if any.
        parse_secrets: Parses that file's text.
        public: ``BATON_SIGNING_PUBLIC_KEYS``.
        private: ``BATON_SIGNING_PRIVATE_KEYS``.
    """

    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    secrets_file: Path | None = None
    parse_secrets: Callable[[str], dict[str, bytes]] | None = field(default=None, repr=False)
    public: Path | None = None
    private: Path | None = None

    def files(self) -> list[Path]:
        """The files and directories whose change means the keys may have changed."""
        paths = [p for p in (self.secrets_file, self.public, self.private) if p is not None]
        found: list[Path] = []
        for path in paths:
            found.append(path)
            if path.is_dir():
                found += sorted(path.iterdir())
        return found

    def load(self) -> KeySet:
        """Read every key.

        Raises:
            ValueError: a file is unreadable or malformed, or a key id is both an HMAC and
                an Ed25519 key; the message names the variable, never a secret.
        """
        secrets = dict(self.secrets)
        if self.secrets_file is not None and self.parse_secrets is not None:
            try:
                text = self.secrets_file.read_text("utf-8").removesuffix("\n")
            except (OSError, UnicodeDecodeError):
                raise ValueError(
                    f"BATON_SIGNING_KEYS_FILE: cannot read {self.secrets_file}"
                ) from None
            secrets = self.parse_secrets(text)
        public = (
            load_public_keys(self.public, variable="BATON_SIGNING_PUBLIC_KEYS")
            if self.public
            else {}
        )
        private = (
            load_private_keys(self.private, variable="BATON_SIGNING_PRIVATE_KEYS")
            if self.private
            else {}
        )
        both = sorted(set(secrets) & (set(public) | set(private)))
        if both:
            raise ValueError(f"key id {both[0]!r} is both an HMAC and an Ed25519 key")
        # A publisher verifies its own records too (a service consuming what it published).
        public = {**{k: v.public_key() for k, v in private.items()}, **public}
        return KeySet(secrets=secrets, public=public, private=private)


def _fingerprint(paths: list[Path]) -> tuple[tuple[str, int, int, int], ...]:
    marks = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            marks.append((str(path), -1, -1, -1))
        else:
            marks.append((str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino))
    return tuple(marks)


class KeyRing:
    """The keys of one process, re-read when their files change (module doc).

    Args:
        sources: Where the keys come from.
        key_id: ``BATON_SIGNING_KEY_ID`` (a key or a publisher), for :meth:`signer`.
        interval: Least seconds between two checks of the files' modification times.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        *,
        sources: KeySources,
        key_id: str | None,
        interval: float,
        initial: KeySet | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = sources
        self.key_id = key_id
        self.interval = interval
        self._clock = clock
        self._mark = _fingerprint(sources.files())
        self.keys = initial if initial is not None else sources.load()
        self._signer = self.keys.signer(key_id)
        now = clock()
        self._checked = now
        self._refreshed = now - _REFRESH_GAP
        self.reloads = 0

    def current(self) -> KeySet:
        """The keys, re-read first when the interval is over and a file changed."""
        now = self._clock()
        if now - self._checked >= self.interval:
            self._checked = now
            self._reload_if_changed()
        return self.keys

    def signer(self) -> Signer | None:
        """The key to sign with now (the newest version held), None when none is held."""
        self.current()
        return self._signer

    def refresh(self) -> bool:
        """Re-read the files now if they changed (at most once a second): a record named a
        key not held, which may have just been added. True when the keys changed."""
        now = self._clock()
        if now - self._refreshed < _REFRESH_GAP:
            return False
        self._refreshed = self._checked = now
        return self._reload_if_changed()

    def _reload_if_changed(self) -> bool:
        mark = _fingerprint(self.sources.files())
        if mark == self._mark:
            return False
        try:
            keys = self.sources.load()
            signer = keys.signer(self.key_id)
        except ValueError as exc:
            log.error("signing keys not reloaded, the previous ones stay in use: %s", exc)
            self._mark = mark  # logged once per change, not at every check
            return False
        self._mark = mark
        if not keys:
            log.error("signing keys not reloaded: no key is left; the previous ones stay in use")
            return False
        before = sorted({*self.keys.secrets, *self.keys.public})
        self.keys, self._signer = keys, signer
        self.reloads += 1
        log.info(
            "signing keys reloaded: verifying with %s (was %s), signing as %s",
            ",".join(sorted({*keys.secrets, *keys.public})),
            ",".join(before),
            signer.key_id if signer is not None else "nobody",
        )
        return True

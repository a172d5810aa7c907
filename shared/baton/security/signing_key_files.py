"""Ed25519 key files: ``<key id>.key`` (private, PKCS#8 PEM) and ``<key id>.pub`` (public).

A key path (``BATON_SIGNING_PRIVATE_KEYS``, ``BATON_SIGNING_PUBLIC_KEYS``) is a directory of
such files — a mounted secret or config map — or one of them; the key id is the file name
without its suffix. ``baton keys generate`` writes a pair with :func:`generate_key_pair`.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # cryptography is imported where keys are loaded: ~80 ms at every start
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "KEY_ID",
    "PRIVATE_SUFFIX",
    "PUBLIC_SUFFIX",
    "generate_key_pair",
    "load_private_keys",
    "load_public_keys",
    "raw_public_key",
]

PRIVATE_SUFFIX: Final = ".key"
PUBLIC_SUFFIX: Final = ".pub"
KEY_ID: Final = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def _key_files(path: Path, suffix: str) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.name.endswith(suffix) and p.is_file())
    return [path]


def _key_id(file: Path, suffix: str, variable: str) -> str:
    key_id = file.name.removesuffix(suffix)
    if KEY_ID.fullmatch(key_id) is None:
        raise ValueError(f"{variable}: {file.name} does not name a key id [A-Za-z0-9_.@-]{{1,64}}")
    return key_id


def load_public_keys(path: Path, *, variable: str) -> dict[str, Ed25519PublicKey]:
    """The ``<key id>.pub`` files of ``path`` (a directory, or one file): PEM, or the raw
    32-byte key in base64.

    Raises:
        ValueError: an unreadable or malformed file (named, with ``variable``).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys: dict[str, Ed25519PublicKey] = {}
    for file in _key_files(path, PUBLIC_SUFFIX):
        key_id = _key_id(file, PUBLIC_SUFFIX, variable)
        try:
            data = file.read_bytes().strip()
            if data.startswith(b"-----BEGIN"):
                key = serialization.load_pem_public_key(data)
            else:
                key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data, validate=True))
        except (OSError, ValueError, binascii.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not an Ed25519 public key"
            raise ValueError(f"{variable}: cannot load {file} ({reason})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{variable}: {file} is not an Ed25519 public key")
        keys[key_id] = key
    return keys


def load_private_keys(path: Path, *, variable: str) -> dict[str, Ed25519PrivateKey]:
    """The ``<key id>.key`` files of ``path`` (a directory, or one file): unencrypted
    PKCS#8 PEM.

    Raises:
        ValueError: an unreadable or malformed file (named, never its content).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    keys: dict[str, Ed25519PrivateKey] = {}
    for file in _key_files(path, PRIVATE_SUFFIX):
        key_id = _key_id(file, PRIVATE_SUFFIX, variable)
        try:
            key = serialization.load_pem_private_key(file.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not an unencrypted PEM key"
            raise ValueError(f"{variable}: cannot load {file} ({reason})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{variable}: {file} is not an Ed25519 private key")
        keys[key_id] = key
    return keys


def raw_public_key(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64 (what a ``.pub`` file may hold instead of PEM)."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def generate_key_pair(directory: Path, *, key_id: str) -> tuple[Path, Path]:
    """Write a new key pair as ``<key_id>.key`` (mode 0600) and ``<key_id>.pub`` (PEM).

    Raises:
        FileExistsError: a file of that key id is there already.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    key_file = directory / f"{key_id}{PRIVATE_SUFFIX}"
    pub_file = directory / f"{key_id}{PUBLIC_SUFFIX}"
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    directory.mkdir(parents=True, exist_ok=True)
    for file in (key_file, pub_file):
        if file.exists():
            raise FileExistsError(f"{file} exists")
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    pub_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_file, pub_file

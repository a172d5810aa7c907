"""Byte deltas: a state's canonical encoding compressed against the state before it.

A byte delta is a zlib stream (RFC 1950) of the new state's canonical encoding, compressed
with the previous state's canonical encoding as its preset dictionary. What the two share
becomes back-references into the dictionary, so the stream holds little more than what
changed: about 100 bytes for a 2.3 KB workflow state whose task moved on, where the diff of
:mod:`baton_recovery.checkpoints.delta` encodes to 300 to 2 700. It is exact by construction
(decoding gives the new encoding byte for byte, checked against the state's hash), and all of it
runs in zlib's C code, without walking the state in Python.

The stream says what it is: its header sets the FDICT flag and names the dictionary's
Adler-32, so it cannot be taken for a full snapshot (:mod:`baton_recovery.checkpoints.snapshot`:
plain JSON or a zlib stream without a dictionary), and decoding it against any other base fails
instead of producing a wrong state.

Choice: deflate reaches back 32 KiB, so a base must be small enough that unchanged bytes of
the new state stay within reach of their copy in it. Bases of up to :data:`MAX_BASE` bytes
are used; larger states are diffed by :mod:`baton_recovery.checkpoints.delta`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Final

from baton_recovery.checkpoints.snapshot import inflate

__all__ = ["LEVEL", "MAX_BASE", "ByteDelta", "can_base", "encode_against", "is_byte_delta"]

MAX_BASE: Final = 24 * 1024
"""Largest base (bytes of its canonical encoding) a byte delta is made against; leaves 8 KiB
of deflate's window for the new state to grow before the bytes it shares."""
LEVEL: Final = 1
"""zlib level: a 2.3 KB state in 16 µs to about 100 bytes (level 6: 23 µs, 50 bytes)."""
_FDICT: Final = 0x20


def can_base(raw: bytes) -> bool:
    """Whether a state encoding this long can be the base of a byte delta."""
    return len(raw) <= MAX_BASE


def encode_against(raw: bytes, *, base: bytes) -> bytes:
    """The byte delta that turns ``base`` into ``raw`` (both canonical encodings)."""
    deflate = zlib.compressobj(
        LEVEL, zlib.DEFLATED, zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, base
    )
    return deflate.compress(raw) + deflate.flush()


def is_byte_delta(blob: bytes) -> bool:
    """Whether a stored payload is a byte delta: a zlib header with the FDICT flag."""
    return (
        len(blob) >= 6
        and blob[0] & 0x0F == zlib.DEFLATED
        and blob[1] & _FDICT != 0
        and (blob[0] << 8 | blob[1]) % 31 == 0
    )


@dataclass(frozen=True, slots=True)
class ByteDelta:
    """A stored byte delta, as read: it decodes only against its base.

    Attributes:
        blob: The stored stream.
    """

    blob: bytes

    def apply(self, base: bytes, *, checkpoint_id: str, max_size: int) -> bytes:
        """The encoding this delta turns ``base`` into.

        Args:
            base: The canonical encoding of the state before (its checkpoint's base).
            checkpoint_id: The checkpoint, named in errors.
            max_size: Largest decoded size accepted, in bytes.

        Raises:
            CorruptCheckpointError: the stream is damaged, truncated, expands beyond
                ``max_size``, or was not made against ``base``.
        """
        return inflate(self.blob, checkpoint_id=checkpoint_id, max_size=max_size, dictionary=base)

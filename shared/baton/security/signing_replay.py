"""Replay detection: a signed record appearing again somewhere it was not first published.

What counts as a replay (the choice, and why):

- Every send is signed afresh with a new nonce (:mod:`baton.security.signing`), so the
  bus's own repeats — an outbox row re-sent after a crash, a request sent again, a reply
  repeated from the reply cache — carry new signatures and are never replays. The services'
  idempotency ledgers apply such repeats once.
- A redelivery of the *same* record (a restart before the commit, a rebalance) is at the
  same topic, partition and offset; a retry-topic copy names that position in its
  ``baton-original-*`` headers. Either is the record itself again, not a replay.
- A replay is a signature seen before at another position: someone wrote a copy of a
  signed record (``baton-sig`` and all) to a topic. It is quarantined as ``replayed``.
- A copy made after the window below forgets it is caught by age: a record appended more
  than ``BATON_SIGNING_MAX_AGE`` after it was signed is ``too old`` (the age is append time
  minus signing time, not now minus signing time, so a consumer catching up after an
  outage accepts old records).

Limits: the seen-set is in memory and per process, bounded to ``BATON_SIGNING_SEEN_SIZE``
signatures (oldest forgotten first) and lost at restart; a copy written to a partition that
another instance consumes is not seen by this one. Such a copy must then pass the age check,
which relies on the record timestamp (the broker's append time with
``message.timestamp.type=LogAppendTime``; with ``CreateTime`` a producer may forge it). The
idempotency ledger in PostgreSQL stays the backstop: a copy of an event already applied is
never applied again.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["Position", "SeenSet"]

Position = tuple[str, int, int]
"""Topic, partition and offset where a record was first appended."""


class SeenSet:
    """Signatures recently seen, with the position of their record.

    Args:
        size: Most signatures remembered.
    """

    def __init__(self, *, size: int) -> None:
        self._size = size
        self._items: OrderedDict[bytes, Position] = OrderedDict()
        self.forgotten = 0

    def __len__(self) -> int:
        return len(self._items)

    def check(self, signature: bytes, position: Position) -> bool:
        """Remember ``signature`` at ``position``; False when it was seen at another one."""
        first = self._items.get(signature)
        if first is not None:
            return first == position
        self._items[signature] = position
        if len(self._items) > self._size:
            self._items.popitem(last=False)
            self.forgotten += 1
        return True

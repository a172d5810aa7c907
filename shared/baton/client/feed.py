"""One consumer group per worker process for all of its agents.

Every :class:`~baton.client.AgentWorker` of a :class:`~baton.client.BatonClient` takes its
assignments from one subscription, the group ``<prefix>.agent.<component>``: a process
running 64 agents reads the events topic once, not 64 times. Each event goes only to the
agents it concerns — the agent a ``TASK_ASSIGNED`` names, and the agents running a task of
the event's workflow (for what takes a task away).

Choices:

- The group is the client's: give each worker process its own component name (a second
  process in the same group would split the partitions and miss its agents' assignments).
- An assignment for an agent of this process that has not started yet (workers start one
  after another; the group may already deliver what it left uncommitted) is kept, up to
  :data:`UNCLAIMED_LIMIT` of them, and handed over when the agent starts — unless an event
  in between took it away. Assignments of agents that never start here are forgotten.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from baton.client.errors import ClientError
from baton.client.takeaway import WATCHED_PATTERNS, takeaway
from baton.protocol.event import Event

if TYPE_CHECKING:
    from baton.client.client import BatonClient

__all__ = ["UNCLAIMED_LIMIT", "AgentFeed", "FeedMember", "feed_group"]

UNCLAIMED_LIMIT = 1_000
"""Assignments kept for agents of this process that have not started yet."""

_ASSIGNED = "TASK_ASSIGNED"


class FeedMember(Protocol):
    """What the feed needs of an agent worker."""

    @property
    def agent_id(self) -> str: ...

    def holds(self, workflow_id: str) -> bool:
        """Whether the agent runs (or waits to run) a task of ``workflow_id``."""
        ...

    def deliver(self, event: Event) -> None:
        """Take an assignment or a takeaway; must not block."""
        ...


def feed_group(client: BatonClient) -> str:
    """The consumer group of ``client``'s agents: ``<prefix>.agent.<component>``."""
    return f"{client.settings.topic_prefix}.agent.{client.component}"


class AgentFeed:
    """Delivers the events agent workers watch to the workers of one client.

    Use :meth:`of` to get the client's feed; workers :meth:`join` and :meth:`leave` it. The
    subscription starts with the first worker and stops with the last.
    """

    _feeds: weakref.WeakKeyDictionary[BatonClient, AgentFeed] = weakref.WeakKeyDictionary()

    def __init__(self, *, client: BatonClient) -> None:
        # Weak: the client's feed is kept in a table keyed weakly by the client.
        self._client = weakref.ref(client)
        self.component = client.component
        self.group = feed_group(client)
        self._members: dict[str, FeedMember] = {}
        # (agent, workflow, task) → assignment, oldest first; and the keys by workflow.
        self._unclaimed: OrderedDict[tuple[str, str, str], Event] = OrderedDict()
        self._by_workflow: dict[str, set[tuple[str, str, str]]] = {}
        self._lock = asyncio.Lock()
        self._subscribed = False

    @classmethod
    def of(cls, client: BatonClient) -> AgentFeed:
        """The feed of ``client`` (made on first use)."""
        feed = cls._feeds.get(client)
        if feed is None:
            feed = cls._feeds[client] = cls(client=client)
        return feed

    @property
    def members(self) -> list[str]:
        """Agent ids of the workers taking events from this feed."""
        return list(self._members)

    async def join(self, member: FeedMember) -> None:
        """Deliver ``member``'s events to it from now on (and what was kept for it).

        Raises:
            ClientError: another worker of this client already runs that agent.
        """
        async with self._lock:
            if member.agent_id in self._members:
                raise ClientError(
                    f"agent {member.agent_id!r} already has a worker in this process",
                    component=self.component,
                    group=self.group,
                )
            self._members[member.agent_id] = member
            for key in [k for k in self._unclaimed if k[0] == member.agent_id]:
                member.deliver(self._forget(key))
            if not self._subscribed:
                await self._owner().subscribe(WATCHED_PATTERNS, self._on_event, group=self.group)
                self._subscribed = True

    async def leave(self, member: FeedMember) -> None:
        """Stop delivering to ``member``; the last one out stops the subscription."""
        async with self._lock:
            if self._members.get(member.agent_id) is member:
                del self._members[member.agent_id]
            if not self._members and self._subscribed:
                self._subscribed = False
                self._unclaimed.clear()
                self._by_workflow.clear()
                await self._owner().unsubscribe(self.group)

    def _owner(self) -> BatonClient:
        client = self._client()
        if client is None:  # pragma: no cover - a worker holds its client
            raise ClientError("the client of this feed is gone", component=self.component)
        return client

    async def _on_event(self, event: Event) -> None:
        self.dispatch(event)

    def dispatch(self, event: Event) -> None:
        """Hand ``event`` to the workers it concerns (and settle kept assignments)."""
        named = event.data.get("agent_id") if event.event_type == _ASSIGNED else None
        for member in list(self._members.values()):
            if member.agent_id == named or member.holds(event.workflow_id):
                member.deliver(event)
        if event.workflow_id in self._by_workflow:
            self._settle_unclaimed(event)
        if isinstance(named, str) and named not in self._members:
            self._keep(named, event)

    def _keep(self, agent_id: str, event: Event) -> None:
        key = (agent_id, event.workflow_id, str(event.data.get("task_id")))
        self._unclaimed[key] = event
        self._unclaimed.move_to_end(key)
        self._by_workflow.setdefault(key[1], set()).add(key)
        while len(self._unclaimed) > UNCLAIMED_LIMIT:
            self._forget(next(iter(self._unclaimed)))

    def _forget(self, key: tuple[str, str, str]) -> Event:
        keys = self._by_workflow[key[1]]
        keys.discard(key)
        if not keys:
            del self._by_workflow[key[1]]
        return self._unclaimed.pop(key)

    def _settle_unclaimed(self, event: Event) -> None:
        """Forget kept assignments that ``event`` takes away from their agent."""
        for key in list(self._by_workflow[event.workflow_id]):
            token = self._unclaimed[key].data.get("fencing_token")
            ended = takeaway(event, agent_id=key[0])
            if ended is not None and ended.ends(
                workflow_id=key[1], task_id=key[2], token=token if isinstance(token, int) else None
            ):
                self._forget(key)

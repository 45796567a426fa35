"""Presence on the client: who is watched, and presence in words.

`ChatClient.watch_presence(user)` returns a `PresenceWatch`; iterating it subscribes to
`presence/<user>` and yields `PresenceUpdate`s, the retained state first. Each iterator
has its own queue in `PresenceWatchers`, fed by the session as updates arrive.

`describe_presence` and `time_ago` are pure: the caller passes `now`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from datetime import datetime, tzinfo
from typing import Any

from clients.errors import ChatClientError
from clients.events import PresenceUpdate

log = logging.getLogger(__name__)

MINUTE_S = 60
HOUR_S = 60 * MINUTE_S
DAY_S = 24 * HOUR_S
WEEK_S = 7 * DAY_S

# What a watcher's queue carries: an update, the error that ends the watch, or None
# (the client closed).
WatchItem = PresenceUpdate | ChatClientError | None


class PresenceWatch:
    """What `ChatClient.watch_presence(user)` returns.

    `async for update in client.watch_presence("bob")` yields bob's presence updates, the
    retained state first, until the loop stops or the client closes. `await`ing it
    instead (the SDK's first form) only subscribes, for good: updates then come as
    events of `ChatClient.events()`, as every presence update does.
    """

    def __init__(
        self,
        subscribe: Callable[[], Awaitable[None]],
        updates: Callable[[], AsyncIterator[PresenceUpdate]],
    ) -> None:
        self._subscribe = subscribe
        self._updates = updates

    def __aiter__(self) -> AsyncIterator[PresenceUpdate]:
        return self._updates()

    def __await__(self) -> Generator[Any, None, None]:
        return self._subscribe().__await__()


class PresenceWatchers:
    """The queues of the running `watch_presence` iterators, per watched user."""

    def __init__(self) -> None:
        self._queues: dict[str, list[asyncio.Queue[WatchItem]]] = {}

    def add(self, user: str) -> asyncio.Queue[WatchItem]:
        """A new iterator for `user`: its queue."""
        queue: asyncio.Queue[WatchItem] = asyncio.Queue()
        self._queues.setdefault(user, []).append(queue)
        return queue

    def remove(self, user: str, queue: asyncio.Queue[WatchItem]) -> bool:
        """An iterator ended; True if nobody watches `user` any more."""
        queues = self._queues.get(user, [])
        if queue in queues:
            queues.remove(queue)
        if queues:
            return False
        self._queues.pop(user, None)
        return True

    def users(self) -> set[str]:
        """Every user some iterator watches."""
        return set(self._queues)

    def publish(self, update: PresenceUpdate) -> None:
        """Hand an update to every iterator watching its user."""
        for queue in self._queues.get(update.user, []):
            queue.put_nowait(update)

    def refuse(self, user: str, error: ChatClientError) -> None:
        """The broker refused the subscription: every iterator for `user` raises `error`."""
        for queue in self._queues.get(user, []):
            queue.put_nowait(error)

    def close(self, error: ChatClientError | None) -> None:
        """The client stopped: iterators end, or raise `error` if given."""
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(error)


def describe_presence(update: PresenceUpdate, now_ms: int, tz: tzinfo) -> str:
    """`online`, `last seen 3 minutes ago`, or `offline` when it was never connected."""
    if update.state == "online":
        return "online"
    if update.last_seen is None:
        return "offline"
    return f"last seen {time_ago(update.last_seen, now_ms, tz)}"


def time_ago(then_ms: int, now_ms: int, tz: tzinfo) -> str:
    """`just now`, `3 minutes ago`, `2 hours ago`, `4 days ago`, or past a week `on 2025-01-31`.

    Counts whole units, rounding down, as people do ("3 minutes" until the 4th is full).
    A `then` in the future (clocks of two machines disagree) is `just now`. The date is
    the day in `tz`.
    """
    elapsed = max(0, now_ms - then_ms) // 1000
    if elapsed < MINUTE_S:
        return "just now"
    if elapsed < HOUR_S:
        return _ago(elapsed // MINUTE_S, "minute")
    if elapsed < DAY_S:
        return _ago(elapsed // HOUR_S, "hour")
    if elapsed < WEEK_S:
        return _ago(elapsed // DAY_S, "day")
    return datetime.fromtimestamp(then_ms / 1000, tz).strftime("on %Y-%m-%d")


def _ago(count: int, unit: str) -> str:
    return f"{count} {unit} ago" if count == 1 else f"{count} {unit}s ago"

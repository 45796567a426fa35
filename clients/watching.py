"""The presence topics a client follows, across its connections, and the iterators reading them.

A user is followed for good once `await client.watch_presence(user)` asked for it, and
for as long as an `async for ... in client.watch_presence(user)` runs. Each connection
subscribes to all of them (`filters()` goes into the session's first SUBSCRIBE); one
that starts while connected subscribes at once. When the last iterator of a user ends,
its subscription goes too, unless it was asked for for good.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import aiomqtt

from backend.topics import parse_presence_topic, presence_topic
from clients.errors import ChatClientError, ConnectionRefused, PresenceRefused
from clients.events import PresenceUpdate
from clients.presence import WatchItem
from clients.state import ClientState

if TYPE_CHECKING:
    from clients.session import Session

log = logging.getLogger(__name__)

# Runs a coroutine in the client's task group, under a name.
Spawn = Callable[[Coroutine[Any, Any, None], str], None]


class PresenceFollower:
    """Presence subscriptions of one client; `session` is the current connection's, if any."""

    def __init__(self, state: ClientState, spawn: Spawn) -> None:
        self.state = state
        self.session: Session | None = None
        self._for_good: set[str] = set()
        self._spawn = spawn

    def wanted(self) -> set[str]:
        """Every user whose presence is followed now."""
        return self._for_good | self.state.presence.users()

    def filters(self) -> list[str]:
        """The presence topics a new connection subscribes to."""
        return sorted(map(presence_topic, self.wanted()))

    async def connected(self, session: Session, asked: list[str], refused: list[str]) -> None:
        """A connection subscribed to `asked` (see `filters`), of which `refused` were refused.

        Users who came to be followed while it subscribed were not in `asked`: they are
        subscribed now.
        """
        self._refuse(refused)
        self.session = session
        late = sorted(set(self.filters()) - set(asked))
        if late:
            self._refuse(await session.subscribe(late))

    def disconnected(self) -> None:
        """The connection dropped; the next one subscribes again."""
        self.session = None

    async def follow(self, user: str) -> None:
        """Follow `user` for good; updates come only as events of `ChatClient.events()`."""
        self._for_good.add(user)
        if await self._subscribe_now(user):
            raise PresenceRefused(user)

    async def updates(self, user: str) -> AsyncGenerator[PresenceUpdate, None]:
        """`user`'s presence updates, the retained state first, until the client closes."""
        # Registered before subscribing: the retained state may follow the SUBACK at once.
        queue = self.state.presence.add(user)
        try:
            if await self._subscribe_now(user):
                raise PresenceRefused(user)
            # Not connected: `connected` subscribes, and reports a refusal in the queue.
            last: WatchItem = None
            while (item := await queue.get()) is not None:
                if isinstance(item, ChatClientError):
                    raise item
                if item != last:  # a resubscription (reconnect) repeats the retained state
                    last = item
                    yield item
            if isinstance(self.state.fatal, ConnectionRefused):
                raise self.state.fatal
        finally:
            if self.state.presence.remove(user, queue):
                self._stop_following(user)

    async def _subscribe_now(self, user: str) -> bool:
        """Subscribe on the current connection, if any; True if the broker refused.

        A connection that drops meanwhile is no failure: the next one subscribes.
        """
        if self.session is None:
            return False
        try:
            return bool(await self.session.subscribe([presence_topic(user)]))
        except aiomqtt.MqttError as exc:
            log.info("presence of %r: subscribing failed (%s); the reconnect will", user, exc)
            return False

    def _refuse(self, filters: list[str]) -> None:
        watched = self.state.presence.users()
        for topic_filter in filters:
            user = parse_presence_topic(topic_filter)
            if user is None:
                continue
            if user in watched:
                self.state.presence.refuse(user, PresenceRefused(user))
            else:  # followed for good, with nobody iterating to be told
                log.warning("%s", PresenceRefused(user))

    def _stop_following(self, user: str) -> None:
        if user in self._for_good or self.state.stopped.is_set():
            return
        # Not awaited here: this runs where an iterator is closed, possibly being cancelled.
        self._spawn(self._unsubscribe(user), f"mqchat-unwatch[{user}]")

    async def _unsubscribe(self, user: str) -> None:
        session = self.session
        # Checked again: someone may have started following meanwhile. The check and the
        # UNSUBSCRIBE's sending happen in one step, so a new SUBSCRIBE comes after it.
        if session is None or user in self.wanted():
            return
        with contextlib.suppress(aiomqtt.MqttError):
            await session.mqtt.unsubscribe(presence_topic(user))

"""Presence: the server is its only source, and publishes it retained on `presence/<user>`.

It learns of connections from the embedded broker's reports (`_mqchat/connections`)
and, on any broker, from the clients' `presence` messages and wills; the rules of
which counts are in `backend.core.presence`. Flips are recorded in the store, so that
after a restart nobody is shown online from stale state, and `last_seen` survives.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from backend import wire
from backend.core.presence import Flip, PresenceTracker
from backend.errors import Unavailable
from backend.ids import user_of_client_id
from backend.service import Clock, Outgoing, wall_clock_ms
from backend.store.base import PresenceState, Store
from backend.topics import presence_topic

log = logging.getLogger(__name__)

HEARTBEAT_S = 30  # how often `last_seen` of online users is moved forward


class PresenceService:
    """Turns connection news into retained presence publications."""

    def __init__(
        self, store: Store, *, uses_broker_events: bool, clock: Clock = wall_clock_ms
    ) -> None:
        self.store = store
        self.clock = clock
        self.tracker = PresenceTracker(uses_broker_events=uses_broker_events)

    async def start(self) -> None:
        """After a (re)start, what the store says was online is stale until proven.

        With broker events, the flags are cleared (keeping `last_seen`) and the broker's
        snapshot, which comes as soon as the backend subscribes, publishes everyone's
        state. With client reports only, the external broker still holds everyone's
        retained state and the connections outlived the backend: keep believing them.
        """
        states = await self.store.presence_states()
        if not self.tracker.uses_broker_events:
            self.tracker.restore(state.user for state in states if state.online)
            return
        for state in states:
            if state.online:
                await self.store.set_presence(state.user, online=False, ts=state.last_seen or 0)

    async def broker_restarted(self) -> list[Outgoing]:
        """A broker that reports no connections (Mosquitto under the server) started anew:
        every connection it had is gone, wills unsent. Everyone is offline until they
        report again, and every retained state is republished over the broker's stale
        (or lost) copy."""
        self.tracker.restore(())
        for state in await self.store.presence_states():
            if state.online:
                await self.store.set_presence(state.user, online=False, ts=state.last_seen or 0)
        return everyone(await self.store.presence_states(), set(), self.clock())

    async def report(self, user: str, request: wire.PresenceRequest) -> list[Outgoing]:
        """A client's own `presence` message (or its will)."""
        return await self._publish(self.tracker.reported(user, request.state == "online"))

    async def broker_event(self, event: wire.ConnectionEvent) -> list[Outgoing]:
        """The embedded broker opened or closed a connection, or lists them all."""
        if event.event == "snapshot":
            connections: dict[str, list[str]] = {}
            for client_id in event.client_ids:
                user = user_of_client_id(client_id)
                if user is not None:
                    connections.setdefault(user, []).append(client_id)
            await self._record(self.tracker.snapshot(connections))
            # The broker may have restarted and lost every retained state: publish all.
            states = await self.store.presence_states()
            return everyone(states, self.tracker.online_users(), self.clock())
        user = user_of_client_id(event.client_id or "")
        if user is None:  # the backend's own connections, or nonsense
            return []
        if event.event == "connected":
            return await self._publish(self.tracker.connected(user, event.client_id or ""))
        return await self._publish(self.tracker.disconnected(user, event.client_id or ""))

    async def heartbeat(self) -> None:
        """Move `last_seen` of everyone online to now: after a crash it is at most stale by
        one heartbeat."""
        online = sorted(self.tracker.online_users())
        if online:
            await self.store.touch_last_seen(online, self.clock())

    async def _publish(self, flip: Flip | None) -> list[Outgoing]:
        if flip is None:
            return []
        now = await self._record([flip])
        return [online(flip.user, now) if flip.online else offline(flip.user, now, now)]

    async def _record(self, flips: Iterable[Flip]) -> int:
        now = self.clock()
        try:
            for flip in flips:
                await self.store.set_presence(flip.user, online=flip.online, ts=now)
        except Unavailable as error:
            # A full disk: show the flip anyway. The record only serves `last_seen` after
            # a crash; skipping the flip would show the user wrong until its next one.
            log.warning("presence shown but not recorded: %s", error.message)
        return now


def online(user: str, now: int) -> Outgoing:
    # Connected now: `last_seen` is now.
    return retained(user, wire.Presence(state="online", last_seen=now, ts=now))


def offline(user: str, last_seen: int | None, now: int) -> Outgoing:
    return retained(user, wire.Presence(state="offline", last_seen=last_seen, ts=now))


def retained(user: str, presence: wire.Presence) -> Outgoing:
    return Outgoing(presence_topic(user), presence.to_bytes(), qos=1, retain=True)


def everyone(states: Iterable[PresenceState], online_users: set[str], now: int) -> list[Outgoing]:
    """Every user's presence as it stands (for a broker that lost its retained state)."""
    return [
        online(state.user, now)
        if state.user in online_users
        else offline(state.user, state.last_seen, now)
        for state in states
    ]

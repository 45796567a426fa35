"""When presence flips: pure bookkeeping of who is connected.

Two sources tell the server about connections:
- the broker's own connection events (the embedded broker reports every CONNECT and
  every end of a connection, per client id, and a snapshot when the backend attaches);
- the clients' reports on `chat/u/<me>/presence` (`online` after connecting, `offline`
  before leaving, and the same `offline` as their will when the connection drops).

With broker events, a user is online while any of its connections is open, and the
reports are not needed (a will from one device must not hide another device that is
still connected). Without them (an external broker), the last report decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Flip:
    """A user's presence changed."""

    user: str
    online: bool


@dataclass
class PresenceTracker:
    """Who is online; each method returns the flips it causes."""

    uses_broker_events: bool
    _connections: dict[str, set[str]] = field(default_factory=dict)
    _reported_online: set[str] = field(default_factory=set)

    def is_online(self, user: str) -> bool:
        if self.uses_broker_events:
            return bool(self._connections.get(user))
        return user in self._reported_online

    def online_users(self) -> set[str]:
        if self.uses_broker_events:
            return {user for user, clients in self._connections.items() if clients}
        return set(self._reported_online)

    def connected(self, user: str, client_id: str) -> Flip | None:
        if not self.uses_broker_events:
            return None
        was = self.is_online(user)
        self._connections.setdefault(user, set()).add(client_id)
        return None if was else Flip(user, online=True)

    def disconnected(self, user: str, client_id: str) -> Flip | None:
        if not self.uses_broker_events:
            return None
        clients = self._connections.get(user)
        if not clients or client_id not in clients:
            return None
        clients.discard(client_id)
        if clients:
            return None
        del self._connections[user]
        return Flip(user, online=False)

    def reported(self, user: str, online: bool) -> Flip | None:
        if self.uses_broker_events:
            return None
        was = user in self._reported_online
        if online:
            self._reported_online.add(user)
        else:
            self._reported_online.discard(user)
        return None if was == online else Flip(user, online)

    def restore(self, online: Iterable[str]) -> None:
        """Start from what the store says was online (reports only: nothing else tells)."""
        if not self.uses_broker_events:
            self._reported_online = set(online)

    def snapshot(self, connections: Mapping[str, Iterable[str]]) -> list[Flip]:
        """Replace what is known by the broker's full list of connections."""
        if not self.uses_broker_events:
            return []
        before = self.online_users()
        self._connections = {user: set(clients) for user, clients in connections.items() if clients}
        after = self.online_users()
        return [Flip(user, online=False) for user in sorted(before - after)] + [
            Flip(user, online=True) for user in sorted(after - before)
        ]

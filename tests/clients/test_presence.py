"""Presence in words, and the queues of presence watchers (clients.presence)."""

from __future__ import annotations

from datetime import UTC

import pytest

from clients.errors import ConnectionRefused, PresenceRefused
from clients.events import PresenceUpdate
from clients.presence import PresenceWatchers, describe_presence, time_ago

NOW = 1_764_410_000_000  # 2025-11-29 09:53:20 UTC
SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR


@pytest.mark.parametrize(
    ("ago", "words"),
    [
        (0, "just now"),
        (59 * SECOND, "just now"),
        (-5 * MINUTE, "just now"),  # the other machine's clock is ahead
        (MINUTE, "1 minute ago"),
        (3 * MINUTE + 59 * SECOND, "3 minutes ago"),
        (59 * MINUTE, "59 minutes ago"),
        (HOUR, "1 hour ago"),
        (23 * HOUR, "23 hours ago"),
        (DAY, "1 day ago"),
        (6 * DAY, "6 days ago"),
        (7 * DAY, "on 2025-11-22"),
        (400 * DAY, "on 2024-10-25"),
    ],
)
def test_time_ago(ago: int, words: str) -> None:
    assert time_ago(NOW - ago, NOW, UTC) == words


def test_describe_presence() -> None:
    online = PresenceUpdate("bob", "online", NOW - HOUR, NOW)
    assert describe_presence(online, NOW, UTC) == "online"
    offline = PresenceUpdate("bob", "offline", NOW - 3 * MINUTE, NOW)
    assert describe_presence(offline, NOW, UTC) == "last seen 3 minutes ago"
    never = PresenceUpdate("bob", "offline", None, NOW)
    assert describe_presence(never, NOW, UTC) == "offline"


async def test_watchers_get_their_users_updates() -> None:
    watchers = PresenceWatchers()
    bob_first, bob_second, carol = watchers.add("bob"), watchers.add("bob"), watchers.add("carol")
    update = PresenceUpdate("bob", "online", None, NOW)
    watchers.publish(update)
    assert bob_first.get_nowait() == update
    assert bob_second.get_nowait() == update
    assert carol.empty()
    assert watchers.users() == {"bob", "carol"}
    assert watchers.remove("bob", bob_first) is False
    assert watchers.remove("bob", bob_second) is True
    assert watchers.users() == {"carol"}


async def test_a_refusal_and_the_end_reach_the_watchers() -> None:
    watchers = PresenceWatchers()
    bob, carol = watchers.add("bob"), watchers.add("carol")
    refusal = PresenceRefused("bob")
    watchers.refuse("bob", refusal)
    assert bob.get_nowait() is refusal
    assert carol.empty()
    assert "share a conversation" in str(refusal)
    watchers.close(None)
    assert carol.get_nowait() is None
    refused = ConnectionRefused("alice", "bad token")
    watchers.close(refused)
    assert carol.get_nowait() is refused

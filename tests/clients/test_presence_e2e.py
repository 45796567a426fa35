"""Presence and typing against a real server: the SDK's iterators, `presence`, `listen`."""

from __future__ import annotations

import asyncio

import pytest

from backend import wire
from backend.ids import dm_conv
from clients.errors import PresenceRefused
from clients.events import PresenceUpdate
from clients.sdk import ChatClient
from tests.clients.cli_support import (
    assert_one_error_line,
    cli_env,
    listening,
    run_cli,
    running,
)
from tests.clients.conftest import UserFactory
from tests.clients.support import WAIT_S, client, next_event
from tests.support.server import ServerProcess


async def share_a_conversation(sender: ChatClient, other: str) -> str:
    """Presence is visible only between users who share a conversation."""
    async with asyncio.timeout(WAIT_S):
        return (await sender.send("hi", to=other)).conv


async def first_update(watcher: ChatClient, user: str) -> PresenceUpdate:
    async with asyncio.timeout(WAIT_S):
        return await anext(aiter(watcher.watch_presence(user)))


async def test_watch_presence_yields_the_current_state_then_changes(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    async with client(server, bob_id, tokens[bob_id]) as bob:
        async with client(server, alice_id, tokens[alice_id]) as alice:
            await share_a_conversation(alice, bob_id)
            async with asyncio.timeout(WAIT_S):
                await alice.synced()  # announced online by now
                updates = aiter(bob.watch_presence(alice_id))
                first = await anext(updates)
        # The retained state came first; alice leaving cleanly is the next change.
        assert (first.user, first.state) == (alice_id, "online")
        async with asyncio.timeout(WAIT_S):
            offline = await anext(updates)
        assert (offline.user, offline.state) == (alice_id, "offline")
        assert offline.last_seen is not None and offline.ts >= first.ts
        await updates.aclose()  # type: ignore[attr-defined]


async def test_watching_a_stranger_is_refused(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "stranger")
    alice_id, stranger_id = tokens
    async with client(server, alice_id, tokens[alice_id]) as alice:
        # Asked before connecting: the refusal comes with the connection's SUBACK.
        with pytest.raises(PresenceRefused) as before:
            await first_update(alice, stranger_id)
        async with asyncio.timeout(WAIT_S):
            await alice.connected()
        # Asked while connected: refused by its own SUBACK.
        with pytest.raises(PresenceRefused) as after:
            await first_update(alice, stranger_id)
    assert before.value.user == after.value.user == stranger_id


async def test_typing_in_repeats_until_paused_and_listen_shows_it_once(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    conv = dm_conv(alice_id, bob_id)
    async with (
        client(server, alice_id, tokens[alice_id]) as alice,
        client(server, bob_id, tokens[bob_id]) as bob,
    ):
        await share_a_conversation(alice, bob_id)
        async with listening(server, bob_id, tokens[bob_id]) as listener:
            # Faster than the SDK's 3 s, slow enough for the server's rate limit (1/s, burst 3).
            async with alice.typing_in(conv, every=0.5):
                for _ in range(2):  # the first state and a repeat
                    typing = await next_event(bob, wire.TypingEvent)
                    assert (typing.sender, typing.state) == (alice_id, "typing")
                assert bob.who_is_typing(conv) == {alice_id: "typing"}
            paused = await next_event(bob, wire.TypingEvent)
            assert paused.state == "paused"
            assert bob.who_is_typing(conv) == {}
            async with asyncio.timeout(WAIT_S):
                await alice.send("done typing", conv=conv)
            # One line for the whole burst, then the message.
            assert await listener.lines(2) == [
                f"[{conv}] {alice_id} is typing...",
                f"[{conv} #2] {alice_id}: done typing",
            ]
            assert (await listener.stop()).stdout == ""


async def test_presence_command_prints_and_follows(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob", "stranger")
    alice_id, bob_id, stranger_id = tokens
    bob_env = cli_env(server, bob_id, tokens[bob_id])
    async with client(server, alice_id, tokens[alice_id]) as alice:
        await share_a_conversation(alice, bob_id)
        async with asyncio.timeout(WAIT_S):
            await alice.synced()
        once = await run_cli("presence", alice_id, "--once", env=bob_env)
        assert once.lines() == ["online"]
        following = running("presence", alice_id, env=bob_env)
        async with following as watcher:
            assert await watcher.line() == "online"
            await alice.__aexit__(None, None, None)  # alice goes away, cleanly
            assert await watcher.line() == "last seen just now"
            finished = await watcher.stop()
    assert finished.code == 0, finished.stderr
    assert finished.stdout == ""
    refused = await run_cli("presence", stranger_id, "--once", env=bob_env)
    assert_one_error_line(refused, "share a conversation")

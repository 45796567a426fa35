"""The SDK against a real server: real broker, real MQTT, real HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from backend import wire
from backend.ids import dm_conv
from clients.errors import ConnectionRefused, HttpError, SendError
from clients.events import PresenceUpdate, SyncCompleted
from clients.outbox import OutboxFile
from tests.clients.conftest import UserFactory
from tests.clients.support import (
    WAIT_S,
    client,
    collect_until_synced,
    messages_for,
    next_event,
    no_more_messages,
)
from tests.support.server import ServerProcess, free_port


async def test_roundtrip_with_receipts(server: ServerProcess, make_users: UserFactory) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    async with (
        client(server, alice_id, tokens[alice_id]) as alice,
        client(server, bob_id, tokens[bob_id]) as bob,
    ):
        async with asyncio.timeout(WAIT_S):
            await alice.synced()
            await bob.synced()
            ack = await alice.send("hello", to=bob_id)
        assert (ack.conv, ack.seq) == (dm_conv(alice_id, bob_id), 1)
        assert alice.status(ack.conv, ack.seq).state == "sent"

        [message] = await messages_for(bob, 1)
        assert (message.conv, message.seq, message.sender, message.text) == (
            ack.conv,
            1,
            alice_id,
            "hello",
        )
        # bob's client confirms delivery by itself; alice's status follows.
        await next_event(alice, wire.ReceiptEvent, lambda r: r.status == "delivered")
        assert alice.status(ack.conv, 1).state == "delivered"

        await bob.mark_read(message.conv, message.seq)
        receipt = await next_event(alice, wire.ReceiptEvent, lambda r: r.status == "read")
        assert (receipt.by, receipt.all_read) == (bob_id, 1)
        assert alice.status(ack.conv, 1).state == "read"

        async with asyncio.timeout(WAIT_S):
            reply = await bob.send("hi back", conv=ack.conv)
        assert reply.seq == 2
        [back] = await messages_for(alice, 1)
        assert (back.seq, back.sender, back.text) == (2, bob_id, "hi back")


async def test_offline_recipient_gets_everything_once_via_sync(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    # bob has been here before: the broker holds a persistent session for him, so the
    # messages come both from its queue and from the sync; each must show once.
    async with client(server, bob_id, tokens[bob_id]) as bob:
        async with asyncio.timeout(WAIT_S):
            await bob.synced()
    async with client(server, alice_id, tokens[alice_id]) as alice:
        async with asyncio.timeout(WAIT_S):
            acks = [await alice.send(f"n{index}", to=bob_id) for index in range(12)]
    conv = acks[0].conv
    assert [ack.seq for ack in acks] == list(range(1, 13))

    # A small limit makes the sync take several batches (`more: true`).
    async with client(server, bob_id, tokens[bob_id], sync_limit=5) as bob:
        messages = await collect_until_synced(bob)
        assert [(m.seq, m.text) for m in messages] == [(i + 1, f"n{i}") for i in range(12)]
        marks = bob.conversation_marks(conv)
        assert marks is not None
        assert marks.last_seq == 12
        assert await no_more_messages(bob, within=1.0) == []

    # The cumulative receipts bob sent are on the server: alice sees every message delivered.
    async with client(server, alice_id, tokens[alice_id]) as alice:
        async with asyncio.timeout(WAIT_S):
            await alice.synced()
        assert alice.status(conv, 12).state == "delivered"


async def test_error_acks_raise_send_error(server: ServerProcess, make_users: UserFactory) -> None:
    tokens = make_users("alice")
    [alice_id] = tokens
    async with client(server, alice_id, tokens[alice_id]) as alice:
        async with asyncio.timeout(WAIT_S):
            with pytest.raises(SendError) as unknown:
                await alice.send("hello", to="nobody-here")
            with pytest.raises(SendError) as empty:
                await alice.send("", to="nobody-here")
        assert unknown.value.code == "unknown_user"
        assert empty.value.code == "invalid"
        assert alice.pending_sends() == []


async def test_same_id_gets_the_same_ack(server: ServerProcess, make_users: UserFactory) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    async with (
        client(server, alice_id, tokens[alice_id]) as alice,
        client(server, bob_id, tokens[bob_id]) as bob,
    ):
        async with asyncio.timeout(WAIT_S):
            first = await alice.send("once", to=bob_id, id="fixed-id-1")
            again = await alice.send("once", to=bob_id, id="fixed-id-1")
        assert again == first
        [message] = await messages_for(bob, 1)
        assert message.seq == first.seq
        assert await no_more_messages(bob, within=1.0) == []


async def test_history_and_conversations_over_http(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    async with client(server, alice_id, tokens[alice_id]) as alice:
        async with asyncio.timeout(WAIT_S):
            for index in range(5):
                await alice.send(f"h{index}", to=bob_id)
        conv = dm_conv(alice_id, bob_id)
        newest = await alice.history(conv, limit=3)
        assert [m.seq for m in newest] == [5, 4, 3]
        older = await alice.history(conv, before=3)
        assert [(m.seq, m.text) for m in older] == [(2, "h1"), (1, "h0")]
        [conversation] = await alice.conversations()
        assert (conversation.conv, conversation.kind, conversation.last_seq) == (conv, "dm", 5)
        assert sorted(conversation.members) == sorted([alice_id, bob_id])
        with pytest.raises(HttpError) as missing:
            await alice.history(dm_conv(alice_id, "zz-nobody"))
        assert missing.value.status in (403, 404)


async def test_a_wrong_token_is_refused_for_good(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice")
    [alice_id] = tokens
    async with client(server, alice_id, "not-the-token") as alice:
        with pytest.raises(ConnectionRefused):
            async with asyncio.timeout(WAIT_S):
                await alice.connected()
        with pytest.raises(ConnectionRefused):
            await alice.send("hello", to="bob")
        with pytest.raises(ConnectionRefused):
            async for _ in alice.events():
                pass


async def test_typing_and_presence(server: ServerProcess, make_users: UserFactory) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    async with client(server, bob_id, tokens[bob_id]) as bob:
        async with client(server, alice_id, tokens[alice_id]) as alice:
            async with asyncio.timeout(WAIT_S):
                ack = await alice.send("hello", to=bob_id)  # presence needs a shared conversation
                await bob.watch_presence(alice_id)
            await next_event(
                bob, PresenceUpdate, lambda p: p.user == alice_id and p.state == "online"
            )
            await alice.typing(ack.conv)
            typing = await next_event(bob, wire.TypingEvent)
            assert (typing.conv, typing.sender, typing.state) == (ack.conv, alice_id, "typing")
        # alice left cleanly: her client said so before disconnecting.
        offline = await next_event(
            bob, PresenceUpdate, lambda p: p.user == alice_id and p.state == "offline"
        )
        assert offline.last_seen is not None


async def test_outbox_file_carries_unsent_messages_over_a_restart(
    server: ServerProcess, make_users: UserFactory, tmp_path: Path
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    outbox_path = tmp_path / "alice-outbox.json"
    # No server on this port: the send cannot get out, and the process "dies".
    async with client(
        server, alice_id, tokens[alice_id], port=free_port(), outbox_path=outbox_path
    ) as offline:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await offline.send("written offline", to=bob_id, id="offline-1")
        assert offline.pending_sends() == ["offline-1"]
    assert [r["id"] for r in OutboxFile(outbox_path).load()] == ["offline-1"]

    async with (
        client(server, bob_id, tokens[bob_id]) as bob,
        client(server, alice_id, tokens[alice_id], outbox_path=outbox_path) as alice,
    ):
        ack = await next_event(alice, wire.Ack, lambda a: a.id == "offline-1")
        [message] = await messages_for(bob, 1)
        assert (message.seq, message.text) == (ack.seq, "written offline")
        assert alice.pending_sends() == []
    assert OutboxFile(outbox_path).load() == []


async def test_sync_completed_is_an_event_too(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice")
    [alice_id] = tokens
    async with client(server, alice_id, tokens[alice_id]) as alice:
        done = await next_event(alice, SyncCompleted)
        assert dict(done.convs) == {}


async def test_group_messages_receipts_and_a_late_member(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob", "carol", "dave")
    alice_id, bob_id, carol_id, dave_id = tokens
    async with httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {tokens[alice_id]}"}
    ) as admin:
        created = await admin.post(
            "/v1/groups", json={"name": "team", "members": [bob_id, carol_id]}
        )
        assert created.status_code == 201, created.text
        conv = created.json()["conv"]
        async with (
            client(server, alice_id, tokens[alice_id]) as alice,
            client(server, bob_id, tokens[bob_id]) as bob,
            client(server, carol_id, tokens[carol_id]) as carol,
        ):
            async with asyncio.timeout(WAIT_S):
                for member in (alice, bob, carol):
                    await member.synced()
                ack = await alice.send("hi team", conv=conv)
            for member in (bob, carol):
                message = await next_event(member, wire.Message, lambda m: m.seq == ack.seq)
                assert (message.sender, message.text) == (alice_id, "hi team")
            # Both members confirm by themselves: alice sees it delivered to everyone.
            await next_event(alice, wire.ReceiptEvent, lambda r: r.all_delivered >= ack.seq)
            assert alice.status(conv, ack.seq).state == "delivered"
            async with asyncio.timeout(WAIT_S):
                reply = await bob.send("hi alice", conv=conv)
            await next_event(alice, wire.Message, lambda m: m.seq == reply.seq)
            await next_event(bob, wire.ReceiptEvent, lambda r: r.all_delivered >= reply.seq)

            added = await admin.post(f"/v1/groups/{conv}/members", json={"users": [dave_id]})
            assert added.status_code == 200, added.text
            async with asyncio.timeout(WAIT_S):
                later = await carol.send("welcome", conv=conv)
            # dave was offline: he syncs from the event that added him, and confirms it.
            async with client(server, dave_id, tokens[dave_id]) as dave:
                shown = await collect_until_synced(dave)
                assert [m.kind for m in shown] == ["event", "text"]
                assert shown[0].event is not None
                assert (shown[0].event.type, shown[0].event.users) == ("member_added", [dave_id])
                assert (shown[1].seq, shown[1].text) == (later.seq, "welcome")
                await next_event(carol, wire.ReceiptEvent, lambda r: r.all_delivered >= later.seq)

"""Lost acks: the SDK retries with the same id and the recipient sees one message.

A relay on the wire (tests.clients.proxy) drops the ack on its way to the sender after
the server stored the message, which is what a crash or a network fault does to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.events import SyncCompleted
from tests.clients.conftest import UserFactory
from tests.clients.proxy import AckDroppingProxy
from tests.clients.support import (
    WAIT_S,
    client,
    collect_until_synced,
    messages_for,
    next_event,
    no_more_messages,
)
from tests.support.server import ServerProcess

RESTART_WAIT_S = 60.0


async def test_a_lost_ack_is_retried_while_connected(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    async with AckDroppingProxy(server.mqtt_port) as proxy:
        proxy.acks_to_drop = 1
        async with (
            client(server, bob_id, tokens[bob_id]) as bob,
            client(
                server, alice_id, tokens[alice_id], port=proxy.port, retry_interval=1.0
            ) as alice,
        ):
            async with asyncio.timeout(WAIT_S):
                await alice.synced()
                ack = await alice.send("exactly once", to=bob_id)
            # The first ack never reached alice: this one answers the periodic retry.
            assert proxy.dropped == [f"chat/u/{alice_id}/in/ack"]
            [message] = await messages_for(bob, 1)
            assert (message.conv, message.seq, message.text) == (ack.conv, ack.seq, "exactly once")
            assert await no_more_messages(bob, within=1.5) == []
            assert alice.pending_sends() == []


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data")
    process.start()
    yield process
    process.kill()


@pytest.mark.slow
async def test_an_ack_lost_to_a_crash_is_retried_after_reconnect(own_server: ServerProcess) -> None:
    tokens = own_server.add_users(["alice", "bob"])
    async with AckDroppingProxy(own_server.mqtt_port) as proxy:
        proxy.acks_to_drop = 1
        # A long retry interval: the retry that gets through is the one made on reconnect.
        async with (
            client(own_server, "bob", tokens["bob"]) as bob,
            client(
                own_server, "alice", tokens["alice"], port=proxy.port, retry_interval=600
            ) as alice,
        ):
            async with asyncio.timeout(WAIT_S):
                await alice.synced()
                await bob.synced()
            sending = asyncio.create_task(alice.send("survives", to="bob", id="crash-1"))
            [message] = await messages_for(bob, 1)  # stored and published...
            async with asyncio.timeout(WAIT_S):
                await proxy.dropped_one.wait()  # ...and its ack lost
            assert not sending.done()

            own_server.kill()
            own_server.start()  # same ports, same data

            async with asyncio.timeout(RESTART_WAIT_S):
                ack = await sending
            assert (ack.conv, ack.seq) == (message.conv, message.seq)
            # bob reconnects and syncs: nothing new, and the message still shows once.
            assert await collect_until_synced(bob, timeout=RESTART_WAIT_S) == []
            marks = bob.conversation_marks(message.conv)
            assert marks is not None
            assert marks.last_seq == 1
            assert await no_more_messages(bob, within=1.0) == []
            assert alice.pending_sends() == []
        assert proxy.dropped == ["chat/u/alice/in/ack"]


async def test_sync_completed_follows_every_reconnect(own_server: ServerProcess) -> None:
    tokens = own_server.add_users(["carol"])
    async with client(own_server, "carol", tokens["carol"]) as carol:
        await next_event(carol, SyncCompleted)
        own_server.kill()
        own_server.start()
        await next_event(carol, SyncCompleted, timeout=RESTART_WAIT_S)

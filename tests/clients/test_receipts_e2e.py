"""Receipts as a user sees them: ticks in `listen`, `read`, `info`, and `ChatClient.receipts`."""

from __future__ import annotations

import asyncio

from backend import wire
from backend.ids import dm_conv
from clients.cli.common import local_zone
from clients.ticks import local_time
from tests.clients.cli_support import assert_one_error_line, cli_env, listening, run_cli
from tests.clients.conftest import UserFactory
from tests.clients.support import WAIT_S, client, next_event
from tests.support.server import ServerProcess


async def test_listen_ticks_your_messages_as_receipts_come(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    conv = dm_conv(alice_id, bob_id)
    async with (
        listening(server, alice_id, tokens[alice_id]) as listener,
        # Another device of alice's sends: its ack reaches the listener too.
        client(server, alice_id, tokens[alice_id], tag="phone", receive=False) as phone,
    ):
        async with asyncio.timeout(WAIT_S):
            await phone.send("hello", to=bob_id)
        assert await listener.line() == f"[{conv} #1] ✓ sent"
        async with client(server, bob_id, tokens[bob_id]) as bob:
            # bob's client confirms delivery by itself.
            assert await listener.line() == f"[{conv} #1] ✓✓ delivered to {bob_id}"
            await bob.mark_read(conv, 1)
            assert await listener.line() == f"[{conv} #1] ✓✓ read by {bob_id}"
        finished = await listener.stop()
    assert finished.code == 0, finished.stderr
    assert finished.stdout == ""


async def test_read_marks_a_conversation_read_for_its_senders(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    conv = dm_conv(alice_id, bob_id)
    bob_env = cli_env(server, bob_id, tokens[bob_id])
    async with client(server, alice_id, tokens[alice_id]) as alice:
        async with asyncio.timeout(WAIT_S):
            await alice.synced()
            for text in ("one", "two"):
                await alice.send(text, to=bob_id)
        assert alice.status(conv, 2).state == "sent"
        # bob never connected a receiving client: `read` alone marks both read.
        result = await run_cli("read", conv, env=bob_env)
        assert result.lines() == [f"{conv} read up to #2"]
        receipt = await next_event(alice, wire.ReceiptEvent, lambda r: r.status == "read")
        assert (receipt.by, receipt.seq, receipt.all_read) == (bob_id, 2, 2)
        assert alice.status(conv, 2).state == "read"
    assert_one_error_line(await run_cli("read", "dm:nobody:zz", env=bob_env), "not in")


async def test_info_prints_who_got_and_read_a_message(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob", "carol")
    alice_id, bob_id, carol_id = tokens
    async with (
        client(server, alice_id, tokens[alice_id]) as alice,
        client(server, bob_id, tokens[bob_id]) as bob,
    ):
        group = await alice.create_group("Receipts", [bob_id, carol_id])
        async with asyncio.timeout(WAIT_S):
            ack = await alice.send("who read this?", conv=group.conv)
        message = await next_event(bob, wire.Message, lambda m: m.seq == ack.seq)
        await bob.mark_read(group.conv, message.seq)
        await next_event(alice, wire.ReceiptEvent, lambda r: r.by == bob_id and r.status == "read")

        rows = {row.user: row for row in await alice.receipts(group.conv, ack.seq)}
        assert set(rows) == {bob_id, carol_id}
        assert rows[bob_id].delivered_ts is not None and rows[bob_id].read_ts is not None
        assert rows[bob_id].delivered_ts <= rows[bob_id].read_ts
        assert (rows[carol_id].delivered_ts, rows[carol_id].read_ts) == (None, None)

        shown = await run_cli(
            "info", group.conv, str(ack.seq), env=cli_env(server, alice_id, tokens[alice_id])
        )
    zone = local_zone()
    table = [line.split() for line in shown.lines()]
    assert table[0] == ["user", "delivered", "read"]
    bob_row = next(row for row in table if row[0] == bob_id)
    carol_row = next(row for row in table if row[0] == carol_id)
    assert " ".join(bob_row[1:3]) == local_time(rows[bob_id].delivered_ts, zone)
    assert " ".join(bob_row[3:5]) == local_time(rows[bob_id].read_ts, zone)
    assert carol_row == [carol_id, "-", "-"]
    assert len(table) == 3

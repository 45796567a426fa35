"""Groups against a real server: the SDK's calls, `mqchat group ...`, and `listen` in words."""

from __future__ import annotations

import asyncio

import pytest

from backend import wire
from clients.errors import HttpError
from tests.clients.cli_support import assert_one_error_line, cli_env, listening, run_cli
from tests.clients.conftest import UserFactory
from tests.clients.support import WAIT_S, client, next_event
from tests.support.server import ServerProcess


async def test_the_sdk_manages_a_group(server: ServerProcess, make_users: UserFactory) -> None:
    tokens = make_users("alice", "bob", "carol")
    alice_id, bob_id, carol_id = tokens
    async with (
        client(server, alice_id, tokens[alice_id]) as alice,
        client(server, bob_id, tokens[bob_id]) as bob,
    ):
        group = await alice.create_group("Climbing", [bob_id])
        assert (group.kind, group.name, group.admins) == ("group", "Climbing", [alice_id])
        assert sorted(group.members) == sorted([alice_id, bob_id])
        assert group.marks is not None and group.last_seq == 1

        group = await alice.add_members(group.conv, [carol_id])
        assert carol_id in group.members
        group = await alice.set_admin(group.conv, bob_id, True)
        assert sorted(group.admins) == sorted([alice_id, bob_id])
        group = await bob.rename_group(group.conv, "Crag")
        assert group.name == "Crag"
        group = await bob.set_admin(group.conv, bob_id, False)
        assert group.admins == [alice_id]
        group = await alice.remove_member(group.conv, carol_id)
        assert carol_id not in group.members

        with pytest.raises(HttpError) as forbidden:
            await bob.rename_group(group.conv, "Mine now")
        assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")
        with pytest.raises(HttpError) as unknown:
            await alice.add_members(group.conv, ["nobody-here"])
        assert (unknown.value.status, unknown.value.code) == (404, "unknown_user")
        assert unknown.value.users == ["nobody-here"]

        await bob.leave_group(group.conv)
        left = await next_event(
            alice, wire.Message, lambda m: m.event is not None and m.event.type == "member_left"
        )
        assert (left.sender, left.seq) == (bob_id, 7)
        [remaining] = [c for c in await alice.conversations() if c.conv == group.conv]
        assert (remaining.members, remaining.last_seq) == ([alice_id], 7)
        async with asyncio.timeout(WAIT_S):
            await alice.send("anyone?", conv=group.conv)


async def test_group_commands_and_listen_in_words(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob", "carol", "dave")
    alice_id, bob_id, carol_id, dave_id = tokens
    alice_env = cli_env(server, alice_id, tokens[alice_id])

    async def alice_runs(*args: str) -> list[str]:
        return (await run_cli("group", *args, env=alice_env)).lines()

    async with listening(server, bob_id, tokens[bob_id]) as listener:
        [conv] = await alice_runs("create", "Climbing", bob_id, carol_id)
        assert conv.startswith("g:")
        shown = f'[{conv} #1] {alice_id} created the group "Climbing" with {bob_id}, {carol_id}'
        assert await listener.line() == shown

        assert await alice_runs("add", conv, dave_id) == [
            f'{conv} "Climbing": {alice_id} (admin), {bob_id}, {carol_id}, {dave_id}'
        ]
        assert await listener.line() == f"[{conv} #2] {alice_id} added {dave_id}"
        await alice_runs("promote", conv, bob_id)
        assert await listener.line() == f"[{conv} #3] {alice_id} made {bob_id} an admin"
        await alice_runs("demote", conv, bob_id)
        assert await listener.line() == f"[{conv} #4] {alice_id} removed {bob_id} as admin"
        await alice_runs("rename", conv, "Crag")
        assert await listener.line() == f'[{conv} #5] {alice_id} renamed the group to "Crag"'
        await alice_runs("remove", conv, dave_id)
        assert await listener.line() == f"[{conv} #6] {alice_id} removed {dave_id}"
        carol_env = cli_env(server, carol_id, tokens[carol_id])
        assert (await run_cli("group", "leave", conv, env=carol_env)).lines() == [f"left {conv}"]
        assert await listener.line() == f"[{conv} #7] {carol_id} left"
        sent = await run_cli("send", "--conv", conv, "hi all", env=alice_env)
        assert sent.lines() == [f"conv={conv} seq=8"]
        assert await listener.line() == f"[{conv} #8] {alice_id}: hi all"
        assert (await listener.stop()).code == 0

    assert await alice_runs("list") == [f'{conv} "Crag": {alice_id} (admin), {bob_id}']
    not_admin = await run_cli("group", "rename", conv, "Mine", env=carol_env)
    assert_one_error_line(not_admin, "403")

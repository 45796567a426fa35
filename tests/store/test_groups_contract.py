"""Group changes: the part of the store contract that belongs to groups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.errors import Forbidden, NotMember, TooLarge, UnknownUser
from backend.store.base import NewUser, SendCommand, Store
from tests.store.test_contract import OPENERS

G = "g:AAAAAAAAAAAAAAAAAAAAAA"
USERS = ["ann", "ben", "cat", "dan"]


@pytest.fixture(params=sorted(OPENERS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await OPENERS[request.param](tmp_path)
    await opened.add_users(
        [NewUser(user, f"+1200000000{i}", user, bytes([i]) * 32) for i, user in enumerate(USERS)],
        now=1,
    )
    yield opened
    await opened.close()


def post(sender: str, client_id: str) -> SendCommand:
    return SendCommand(sender, client_id, G, "text", client_id, None, 10)


async def test_creation_is_event_one_and_every_member_sees_it(store: Store) -> None:
    change = await store.create_group("ann", G, " Crew ", ["ben", "cat"], 256, now=5)
    (delivery,) = change.deliveries
    event = delivery.message
    assert (event.seq, event.kind, event.sender) == (1, "event", "ann")
    assert event.event is not None
    assert (event.event.type, event.event.users, event.event.name) == (
        "created",
        ["ann", "ben", "cat"],
        "Crew",
    )
    assert sorted(delivery.recipients) == ["ben", "cat"]
    assert (change.state.name, list(change.state.admins)) == ("Crew", ["ann"])
    assert sorted(change.state.members) == ["ann", "ben", "cat"]
    assert [m.seq for m in (await store.sync("ben", {}, 10)).messages] == [1]


async def test_unknown_users_are_named_and_nothing_is_created(store: Store) -> None:
    with pytest.raises(UnknownUser) as raised:
        await store.create_group("ann", G, "Crew", ["ben", "zed", "yul"], 256, now=5)
    assert raised.value.users == ["zed", "yul"]
    assert await store.conversations("ann") == []


async def test_a_member_added_later_sees_nothing_before_it_joined(store: Store) -> None:
    await store.create_group("ann", G, "Crew", ["ben"], 256, now=5)
    await store.send(post("ben", "early"))
    change = await store.add_members("ann", G, ["dan", "ben"], 256, now=6)
    (delivery,) = change.deliveries
    assert delivery.message.event is not None
    assert (delivery.message.seq, delivery.message.event.users) == (3, ["dan"])
    assert sorted(delivery.recipients) == ["ben", "dan"]
    await store.send(post("ben", "late"))
    assert [m.seq for m in (await store.sync("dan", {}, 10)).messages] == [3, 4]
    assert [m.seq for m in await store.history("dan", G, None, 10)] == [4, 3]
    # Adding a member twice is harmless: no event, no seq.
    assert (await store.add_members("ann", G, ["dan"], 256, now=7)).deliveries == []


async def test_a_removed_member_sees_up_to_its_removal_and_cannot_post(store: Store) -> None:
    await store.create_group("ann", G, "Crew", ["ben", "cat"], 256, now=5)
    change = await store.remove_member("ann", G, "cat", now=6)
    (delivery,) = change.deliveries
    assert sorted(delivery.recipients) == ["ben", "cat"]  # cat learns it was removed
    sent = await store.send(post("ben", "after"))
    assert list(sent.recipients) == ["ann"]
    with pytest.raises(NotMember):
        await store.send(post("cat", "x"))
    assert [m.seq for m in await store.history("cat", G, None, 10)] == [2, 1]
    assert [s.last_seq for s in await store.conversations("cat")] == [2]


async def test_the_last_admin_leaving_promotes_the_longest_standing_member(store: Store) -> None:
    await store.create_group("ann", G, "Crew", ["ben"], 256, now=5)
    await store.add_members("ann", G, ["cat"], 256, now=6)
    change = await store.remove_member("ann", G, "ann", now=7)
    left, promoted = change.deliveries
    assert left.message.event is not None
    assert promoted.message.event is not None
    assert (left.message.event.type, promoted.message.event.type) == ("member_left", "admin_added")
    assert promoted.message.event.users == ["ben"]
    (state,) = await store.conversations("ben")
    assert list(state.admins) == ["ben"]


async def test_only_admins_rename_add_remove_promote(store: Store) -> None:
    await store.create_group("ann", G, "Crew", ["ben", "cat"], 256, now=5)
    with pytest.raises(Forbidden):
        await store.rename_group("ben", G, "Mine", now=6)
    with pytest.raises(Forbidden):
        await store.add_members("ben", G, ["dan"], 256, now=6)
    with pytest.raises(Forbidden):
        await store.remove_member("ben", G, "cat", now=6)
    with pytest.raises(Forbidden):
        await store.set_admin("ben", G, "ben", True, now=6)
    with pytest.raises(NotMember):
        await store.rename_group("dan", G, "Mine", now=6)
    promoted = await store.set_admin("ann", G, "ben", True, now=7)
    assert sorted(promoted.state.admins) == ["ann", "ben"]
    renamed = await store.rename_group("ben", G, "Ours", now=8)
    assert renamed.state.name == "Ours"
    assert renamed.deliveries[0].message.seq == 3  # refusals used no seq


async def test_the_member_limit(store: Store) -> None:
    with pytest.raises(TooLarge):
        await store.create_group("ann", G, "Crew", ["ben", "cat", "dan"], 3, now=5)
    await store.create_group("ann", G, "Crew", ["ben"], 3, now=5)
    await store.add_members("ann", G, ["cat"], 3, now=6)
    with pytest.raises(TooLarge):
        await store.add_members("ann", G, ["dan"], 3, now=7)

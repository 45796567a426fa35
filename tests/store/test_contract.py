"""The contract every `Store` implementation must pass. SQLite is the first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.accounts import hash_token
from backend.core.marks import Marks
from backend.errors import Conflict, MediaNotFound, NotMember, UnknownConversation, UnknownUser
from backend.store.base import NewUser, ReceiptCommand, SendCommand, Store
from backend.store.sqlite import SqliteStore
from backend.wire import SYNC_BATCH_BYTES, MediaInfo

DM = "dm:alice:bob"


async def open_sqlite(path: Path) -> Store:
    return await SqliteStore.open(path / "mqchat.db")


OPENERS = {"sqlite": open_sqlite}


@pytest.fixture(params=sorted(OPENERS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await OPENERS[request.param](tmp_path)
    await opened.add_users(
        [
            NewUser(name, f"+1000000000{index}", name.title(), hash_token(f"token-{name}"))
            for index, name in enumerate(["alice", "bob", "carol"])
        ],
        now=1,
    )
    yield opened
    await opened.close()


def text(
    sender: str, client_id: str, conv: str = DM, body: str = "hi", ts: int = 100
) -> SendCommand:
    return SendCommand(
        sender=sender, client_id=client_id, conv=conv, kind="text", text=body, media_id=None, ts=ts
    )


async def test_users_are_unique_by_id_and_phone(store: Store) -> None:
    with pytest.raises(Conflict):
        await store.add_users([NewUser("alice", "+19999999999", "", b"x" * 32)], now=2)
    with pytest.raises(Conflict):
        await store.add_users([NewUser("dave", "+10000000000", "", b"y" * 32)], now=2)
    # All or none: a batch with one bad user creates nobody.
    with pytest.raises(Conflict):
        await store.add_users(
            [
                NewUser("erin", "+15550000001", "", b"e" * 32),
                NewUser("bob", "+15550000002", "", b"f" * 32),
            ],
            now=2,
        )
    assert await store.get_user("erin") is None


async def test_tokens_are_found_by_hash_and_rotate(store: Store) -> None:
    found = await store.user_by_token_hash(hash_token("token-alice"))
    assert found is not None and found.id == "alice"
    await store.set_token_hash("alice", hash_token("new"))
    assert await store.user_by_token_hash(hash_token("token-alice")) is None
    assert (await store.user_by_token_hash(hash_token("new"))) is not None
    with pytest.raises(UnknownUser):
        await store.set_token_hash("nobody", hash_token("x"))


async def test_first_send_creates_the_dm_and_numbers_from_one(store: Store) -> None:
    result = await store.send(text("alice", "m1"))
    assert (result.message.conv, result.message.seq, result.duplicate) == (DM, 1, False)
    assert list(result.recipients) == ["bob"]
    second = await store.send(text("bob", "m1"))  # ids are unique per sender only
    assert second.message.seq == 2


async def test_a_retry_returns_the_same_message_and_writes_nothing(store: Store) -> None:
    first = await store.send(text("alice", "m1", ts=100))
    retry = await store.send(text("alice", "m1", body="changed", ts=999))
    assert retry.duplicate
    assert retry.message == first.message
    assert [m.seq for m in await store.history("bob", DM, None, 10)] == [1]


async def test_concurrent_sends_get_gapless_seqs_in_arrival_order(store: Store) -> None:
    results = await asyncio.gather(*(store.send(text("alice", f"m{i}")) for i in range(500)))
    assert [r.message.seq for r in results] == list(range(1, 501))


async def test_send_errors(store: Store) -> None:
    with pytest.raises(UnknownUser):
        await store.send(text("alice", "m1", conv="dm:alice:zed"))
    with pytest.raises(NotMember):
        await store.send(text("carol", "m1", conv=DM))
    await store.send(text("alice", "m2"))
    with pytest.raises(NotMember):
        await store.send(text("carol", "m3", conv=DM))
    with pytest.raises(UnknownConversation):
        await store.send(text("alice", "m4", conv="g:AAAAAAAAAAAAAAAAAAAA"))
    with pytest.raises(MediaNotFound):
        await store.send(SendCommand("alice", "m5", DM, "image", None, "nope", 1))
    # The failed requests wrote nothing and used no seq.
    assert (await store.send(text("alice", "m6"))).message.seq == 2


async def test_sending_counts_as_reading_everything_before(store: Store) -> None:
    for i in range(3):
        await store.send(text("alice", f"a{i}"))
    await store.send(text("bob", "b0"))
    # bob's own message (seq 4) moved bob's marks to 4: a later, lower receipt changes nothing.
    result = await store.apply_receipt(ReceiptCommand("bob", DM, delivered=3, read=None, ts=200))
    assert (result.before, result.after) == (Marks(4, 4), Marks(4, 4))
    assert list(result.notify_delivered) == []
    read = await store.apply_receipt(ReceiptCommand("alice", DM, delivered=None, read=99, ts=300))
    assert read.after == Marks(4, 4)  # clamped to the last seq
    assert list(read.notify_read) == ["bob"]
    assert read.conversation == Marks(4, 4)


async def test_own_messages_never_hide_an_unconfirmed_message_from_sync(store: Store) -> None:
    await store.send(text("alice", "a1"))  # 1: bob has not confirmed it (its push was lost)
    await store.send(text("bob", "b1"))  # 2: counts as read by bob...
    await store.send(text("bob", "b2"))  # 3
    (state,) = await store.conversations("bob")
    assert (state.mine, state.confirmed) == (Marks(3, 3), 0)
    # ...but bob's sync still starts after what bob confirmed.
    assert [m.seq for m in (await store.sync("bob", {}, 10)).messages] == [1, 2, 3]
    # Confirming 1 confirms the run of bob's own messages after it.
    await store.apply_receipt(ReceiptCommand("bob", DM, delivered=1, read=None, ts=5))
    (state,) = await store.conversations("bob")
    assert state.confirmed == 3
    assert (await store.sync("bob", {}, 10)).messages == []
    await store.send(text("bob", "b3"))  # 4: contiguous, confirmed at once
    (state,) = await store.conversations("bob")
    assert state.confirmed == 4


async def test_receipt_for_messages_a_member_did_not_send_notifies_the_sender(store: Store) -> None:
    for i in range(5):
        await store.send(text("alice", f"a{i}"))
    delivered = await store.apply_receipt(ReceiptCommand("bob", DM, delivered=3, read=None, ts=10))
    assert delivered.after == Marks(3, 0)
    assert list(delivered.notify_delivered) == ["alice"]
    assert delivered.conversation == Marks(3, 0)
    again = await store.apply_receipt(ReceiptCommand("bob", DM, delivered=2, read=None, ts=11))
    assert again.after == Marks(3, 0) and list(again.notify_delivered) == []


async def test_receipts_of_non_members_are_refused(store: Store) -> None:
    await store.send(text("alice", "a"))
    with pytest.raises(NotMember):
        await store.apply_receipt(ReceiptCommand("carol", DM, delivered=1, read=None, ts=1))
    with pytest.raises(UnknownConversation):
        await store.apply_receipt(
            ReceiptCommand("carol", "dm:carol:zed", delivered=1, read=None, ts=1)
        )


async def test_per_recipient_receipt_times(store: Store) -> None:
    for i in range(4):
        await store.send(text("alice", f"a{i}"))
    await store.apply_receipt(ReceiptCommand("bob", DM, delivered=2, read=None, ts=500))
    await store.apply_receipt(ReceiptCommand("bob", DM, delivered=None, read=4, ts=700))
    assert [
        (r.user, r.delivered_ts, r.read_ts) for r in await store.message_receipts("alice", DM, 1)
    ] == [("bob", 500, 700)]
    assert [
        (r.user, r.delivered_ts, r.read_ts) for r in await store.message_receipts("alice", DM, 3)
    ] == [("bob", 700, 700)]
    with pytest.raises(NotMember):
        await store.message_receipts("carol", DM, 1)


async def test_seqs_past_any_integer_column_are_past_the_end_not_a_crash(store: Store) -> None:
    """Clients send any number; one past 64 bits is simply past the last seq."""
    huge = 2**64
    await store.send(text("alice", "a1"))
    with pytest.raises(UnknownConversation):
        await store.message_receipts("alice", DM, huge)
    assert [m.seq for m in await store.history("bob", DM, before=huge, limit=10)] == [1]
    result = await store.apply_receipt(ReceiptCommand("bob", DM, delivered=None, read=huge, ts=5))
    assert (result.after.delivered, result.after.read) == (1, 1)
    batch = await store.sync("bob", {DM: huge}, limit=10)
    assert batch.messages == [] and not batch.more


async def test_sync_returns_what_is_past_the_delivered_mark_with_paging(store: Store) -> None:
    for i in range(10):
        await store.send(text("alice", f"a{i}"))
    first = await store.sync("bob", {}, limit=4)
    assert [m.seq for m in first.messages] == [1, 2, 3, 4] and first.more
    await store.apply_receipt(ReceiptCommand("bob", DM, delivered=4, read=None, ts=1))
    second = await store.sync("bob", {}, limit=100)
    assert [m.seq for m in second.messages] == list(range(5, 11)) and not second.more
    (state,) = second.convs
    assert (state.conv, state.last_seq, state.mine, state.everyone) == (
        DM,
        10,
        Marks(4, 0),
        Marks(4, 0),
    )
    assert [m.seq for m in (await store.sync("bob", {DM: 8}, limit=100)).messages] == [9, 10]
    # The sender has seen its own messages: nothing to sync.
    assert (await store.sync("alice", {}, limit=100)).messages == []


async def test_a_batch_of_big_texts_ends_early_and_the_next_sync_goes_on(store: Store) -> None:
    # A thousand 64 KiB texts in one batch would be 64 MiB held per sync request.
    big = "x" * 60_000
    for i in range(60):
        await store.send(text("alice", f"a{i}", body=big))
    first = await store.sync("bob", {}, limit=1000)
    assert first.more and 1 <= len(first.messages) < 60
    assert sum(len(m.text or "") for m in first.messages) <= 2 * SYNC_BATCH_BYTES
    seqs = [m.seq for m in first.messages]
    while seqs[-1] < 60:
        batch = await store.sync("bob", {DM: seqs[-1]}, limit=1000)
        seqs += [m.seq for m in batch.messages]
    assert seqs == list(range(1, 61)) and not batch.more


async def test_history_pages_newest_first_for_members_only(store: Store) -> None:
    for i in range(7):
        await store.send(text("alice", f"a{i}", body=f"n{i}"))
    page = await store.history("bob", DM, before=None, limit=3)
    assert [m.seq for m in page] == [7, 6, 5]
    assert [m.seq for m in await store.history("bob", DM, before=5, limit=10)] == [4, 3, 2, 1]
    assert await store.history("bob", DM, before=1, limit=10) == []
    with pytest.raises(NotMember):
        await store.history("carol", DM, before=None, limit=10)
    with pytest.raises(UnknownConversation):
        await store.history("carol", "dm:carol:zed", before=None, limit=10)


async def test_conversations_list_members(store: Store) -> None:
    await store.send(text("alice", "a"))
    (state,) = await store.conversations("alice")
    assert (state.conv, state.kind, list(state.members), state.last_seq) == (
        DM,
        "dm",
        ["alice", "bob"],
        1,
    )
    assert await store.conversations("carol") == []


async def test_media_belongs_to_its_uploader_and_to_members_who_see_it(store: Store) -> None:
    info = MediaInfo(id="M" * 22, mime="image/png", size=10, sha256="0" * 64, width=1, height=1)
    await store.add_media("alice", "image", info, now=1)
    assert await store.get_media(info.id) == ("alice", "image", info)
    assert await store.may_read_media("alice", info.id)
    assert not await store.may_read_media("bob", info.id)
    with pytest.raises(MediaNotFound):
        await store.send(SendCommand("bob", "x", DM, "image", None, info.id, 1))
    with pytest.raises(MediaNotFound):
        await store.send(SendCommand("alice", "y", DM, "voice", None, info.id, 1))
    sent = await store.send(SendCommand("alice", "z", DM, "image", "caption", info.id, 1))
    assert sent.message.media == info
    assert await store.may_read_media("bob", info.id)
    assert not await store.may_read_media("carol", info.id)


async def test_everything_survives_reopening(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db.sqlite")
    await store.add_users(
        [
            NewUser("alice", "+10000000001", "", b"a" * 32),
            NewUser("bob", "+10000000002", "", b"b" * 32),
        ],
        1,
    )
    await store.send(text("alice", "m1"))
    await store.apply_receipt(ReceiptCommand("bob", DM, delivered=1, read=None, ts=5))
    await store.close()
    reopened = await SqliteStore.open(tmp_path / "db.sqlite")
    try:
        assert (await reopened.send(text("alice", "m1"))).duplicate
        (state,) = await reopened.conversations("bob")
        assert state.mine == Marks(1, 0)
    finally:
        await reopened.close()


async def test_sync_sees_every_write_submitted_before_it(store: Store) -> None:
    for i in range(6):
        await store.send(text("alice", f"a{i}"))
    # Submitted, not awaited: a client's receipt followed at once by its sync.
    receipt = asyncio.ensure_future(
        store.apply_receipt(ReceiptCommand("bob", DM, delivered=4, read=None, ts=1))
    )
    batch = await store.sync("bob", {}, limit=100)
    await receipt
    assert [m.seq for m in batch.messages] == [5, 6]

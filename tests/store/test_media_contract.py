"""The store contract for media cleanup: unused uploads go, used ones never do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.accounts import hash_token
from backend.store.base import NewUser, SendCommand, Store
from backend.wire import MediaInfo
from tests.store.test_contract import OPENERS

DM = "dm:alice:bob"


@pytest.fixture(params=sorted(OPENERS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await OPENERS[request.param](tmp_path)
    await opened.add_users(
        [
            NewUser(name, f"+1000000000{index}", name.title(), hash_token(f"token-{name}"))
            for index, name in enumerate(["alice", "bob"])
        ],
        now=1,
    )
    yield opened
    await opened.close()


def upload(name: str, digest: str | None = None) -> MediaInfo:
    return MediaInfo(
        id=name.ljust(22, "x"),
        mime="image/png",
        size=10,
        sha256=digest or name[0] * 64,
        width=1,
        height=1,
        thumb="data:image/jpeg;base64,AAAA",
    )


def image_message(media: MediaInfo, client_id: str) -> SendCommand:
    return SendCommand(
        sender="alice",
        client_id=client_id,
        conv=DM,
        kind="image",
        text=None,
        media_id=media.id,
        ts=500,
    )


async def test_unused_uploads_older_than_the_cutoff_are_listed_oldest_first(store: Store) -> None:
    for ts, name in [(30, "c"), (10, "a"), (20, "b"), (99, "d")]:
        await store.add_media("alice", "image", upload(name), now=ts)
    assert await store.unused_media(older_than=50, limit=10) == [upload(name).id for name in "abc"]
    assert await store.unused_media(older_than=50, limit=2) == [upload(name).id for name in "ab"]
    assert await store.unused_media(older_than=10, limit=10) == []  # strictly older


async def test_uploads_a_message_carries_are_never_listed(store: Store) -> None:
    used, unused = upload("used"), upload("free")
    for media in (used, unused):
        await store.add_media("alice", "image", media, now=10)
    await store.send(image_message(used, "m1"))
    assert await store.unused_media(older_than=100, limit=10) == [unused.id]


async def test_deleting_returns_the_digests_no_upload_names_any_more(store: Store) -> None:
    shared = "5" * 64
    first, second, alone = upload("one", shared), upload("two", shared), upload("alone")
    for media in (first, second, alone):
        await store.add_media("alice", "image", media, now=10)
    assert await store.delete_unused_media([first.id, alone.id]) == [alone.sha256]
    assert await store.get_media(first.id) is None
    assert await store.get_media(alone.id) is None
    assert await store.get_media(second.id) is not None  # still names the shared file
    assert await store.delete_unused_media([second.id]) == [shared]
    assert await store.unused_media(older_than=100, limit=10) == []


async def test_an_upload_sent_after_it_was_listed_survives_the_delete(store: Store) -> None:
    media = upload("late")
    await store.add_media("alice", "image", media, now=10)
    listed = await store.unused_media(older_than=100, limit=10)
    assert listed == [media.id]
    sent = await store.send(image_message(media, "m1"))
    assert await store.delete_unused_media(listed) == []
    assert await store.get_media(media.id) == ("alice", "image", media)
    assert (await store.history("bob", DM, None, 10))[0].media == media
    assert sent.message.media == media


async def test_deleting_unknown_ids_is_harmless(store: Store) -> None:
    assert await store.delete_unused_media(["nothing-like-this-id", ""]) == []
    assert await store.delete_unused_media([]) == []

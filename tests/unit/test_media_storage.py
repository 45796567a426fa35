"""Media storage: streaming into temp files, content addresses, cleanup of files and rows."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.accounts import hash_token
from backend.errors import TooLarge
from backend.media.cleanup import remove_unused_uploads
from backend.media.storage import MediaStorage
from backend.store.base import NewUser, SendCommand
from backend.store.sqlite import SqliteStore
from backend.wire import MediaInfo


@pytest.fixture
def storage(tmp_path: Path) -> MediaStorage:
    media = MediaStorage(tmp_path / "media")
    media.prepare()
    return media


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_an_upload_is_streamed_hashed_and_counted(storage: MediaStorage) -> None:
    parts = [os.urandom(700_000) for _ in range(4)]  # crosses the 1 MiB write buffer
    received = await storage.receive(chunks(*parts), limit=10_000_000)
    whole = b"".join(parts)
    assert received.path.parent == storage.temp_dir
    assert received.path.read_bytes() == whole
    assert (received.size, received.sha256) == (len(whole), hashlib.sha256(whole).hexdigest())


async def test_past_the_limit_the_upload_stops_and_its_temp_file_goes(
    storage: MediaStorage,
) -> None:
    with pytest.raises(TooLarge):
        await storage.receive(chunks(b"x" * 600, b"y" * 600), limit=1000)
    assert list(storage.temp_dir.iterdir()) == []
    received = await storage.receive(chunks(b"x" * 600, b"y" * 400), limit=1000)  # exactly
    assert received.size == 1000


async def test_a_body_that_breaks_off_leaves_no_temp_file(storage: MediaStorage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * 2_000_000
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.receive(broken(), limit=10_000_000)
    assert list(storage.temp_dir.iterdir()) == []


def test_files_are_placed_at_their_content_address_once(storage: MediaStorage) -> None:
    data = b"some stored bytes"
    digest = hashlib.sha256(data).hexdigest()
    for _ in range(2):
        source, thumbnail = storage.temp_path(), storage.temp_path(".thumb")
        source.write_bytes(data)
        thumbnail.write_bytes(b"thumb")
        storage.place(source, digest, thumbnail)
        assert not source.exists() and not thumbnail.exists()
    target = storage.path_for(digest)
    assert target == storage.root / digest[:2] / digest[2:4] / digest
    assert target.read_bytes() == data
    assert storage.thumbnail_path_for(digest).read_bytes() == b"thumb"
    storage.remove(digest)
    assert not target.exists() and not storage.thumbnail_path_for(digest).exists()


@pytest.mark.parametrize("digest", ["../../etc/passwd", "A" * 64, "a" * 63, "", "a" * 63 + "/"])
def test_only_digests_make_paths(storage: MediaStorage, digest: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        storage.path_for(digest)


def test_stale_temp_files_are_swept(storage: MediaStorage) -> None:
    stale, fresh = storage.temp_path(), storage.temp_path()
    stale.write_bytes(b"left by a crash")
    fresh.write_bytes(b"being uploaded")
    os.utime(stale, (1000, 1000))
    assert storage.sweep_temp(max_age_s=3600) == 1
    assert list(storage.temp_dir.iterdir()) == [fresh]


async def test_cleanup_removes_unused_rows_and_files_but_never_used_ones(
    tmp_path: Path, storage: MediaStorage
) -> None:
    store = await SqliteStore.open(tmp_path / "mqchat.db")
    try:
        await store.add_users(
            [
                NewUser(name, f"+1555000000{i}", name, hash_token(name))
                for i, name in enumerate(["a", "b"])
            ],
            now=1,
        )
        digests = {}
        for name in ("unused", "used", "shared"):
            data = name.encode()
            digests[name] = hashlib.sha256(data).hexdigest()
            source = storage.temp_path()
            source.write_bytes(data)
            storage.place(source, digests[name])

        def info(media_id: str, digest: str) -> MediaInfo:
            return MediaInfo(id=media_id.ljust(22, "0"), mime="audio/ogg", size=5, sha256=digest)

        rows = {
            "unused": info("unused", digests["unused"]),
            "used": info("used", digests["used"]),
            "twin-sent": info("twinsent", digests["shared"]),
            "twin-unused": info("twinunused", digests["shared"]),
        }
        for media in rows.values():
            await store.add_media("a", "voice", media, now=10)
        for client_id, key in (("m1", "used"), ("m2", "twin-sent")):
            command = SendCommand("a", client_id, "dm:a:b", "voice", None, rows[key].id, 20)
            await store.send(command)

        assert await remove_unused_uploads(store, storage, older_than=5) == 0  # too young
        assert await remove_unused_uploads(store, storage, older_than=100) == 2
        assert await store.get_media(rows["unused"].id) is None
        assert await store.get_media(rows["twin-unused"].id) is None
        assert not storage.path_for(digests["unused"]).exists()
        assert storage.path_for(digests["used"]).exists()
        assert storage.path_for(digests["shared"]).exists()  # the sent twin still names it
        assert await remove_unused_uploads(store, storage, older_than=100) == 0
    finally:
        await store.close()

"""Files for uploads and downloads (clients.files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.files import PartFile, file_chunks, guess_media_type


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("photo.jpg", "image/jpeg"),
        ("PHOTO.PNG", "image/png"),
        ("note.ogg", "audio/ogg"),
        ("note.m4a", "audio/mp4"),
        ("note.mp3", "audio/mpeg"),
        ("note.webm", "audio/webm"),
        ("note.opus", "audio/ogg"),
        # A name that says nothing, or says "not media": the server judges by the bytes.
        ("notes.txt", "application/octet-stream"),
        ("no-extension", "application/octet-stream"),
    ],
)
def test_the_declared_type_comes_from_the_name(name: str, declared: str) -> None:
    assert guess_media_type(Path(name)) == declared


async def test_chunks_cover_the_file(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"0123456789")
    assert [chunk async for chunk in file_chunks(path, chunk_bytes=4)] == [b"0123", b"4567", b"89"]


async def test_a_part_file_appears_only_when_committed(tmp_path: Path) -> None:
    dest = tmp_path / "photo.jpg"
    part = PartFile(dest)
    await part.open()
    await part.write(b"half")
    assert not dest.exists()
    await part.discard()
    assert list(tmp_path.iterdir()) == []

    whole = PartFile(dest)
    await whole.open()
    await whole.write(b"whole")
    await whole.commit()
    await whole.discard()  # harmless after commit
    assert dest.read_bytes() == b"whole"
    assert (whole.size, whole.sha256[:8]) == (5, "5d5766cf")
    assert list(tmp_path.iterdir()) == [dest]

"""Media files on disk: uploads streamed to temp files, stored files addressed by content.

Layout under `<data dir>/media`:

    tmp/<random>.part            an upload being received or processed
    ab/cd/<sha256>               a stored file, named by the SHA-256 of its bytes
    ab/cd/<sha256>.thumb         its thumbnail (images only)

The same bytes are stored once however many uploads carry them. Media ids never reach
the filesystem: paths are built from SHA-256 digests, checked to be 64 hex digits.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
import time
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from backend.errors import TooLarge

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
WRITE_BUFFER_BYTES = 1 << 20  # body chunks are small; write (and hash) a MiB at a time
HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Received:
    """An upload received whole into a temp file."""

    path: Path
    size: int
    sha256: str


class MediaStorage:
    """The media directory. `lock` orders placing files against removing them (cleanup)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.temp_dir = root / "tmp"
        # Placing a file and recording its row happen under this lock, and so do deleting
        # rows and the files no row names any more: cleanup can never remove a file that
        # an upload has just placed but not yet recorded. (One server per data dir.)
        self.lock = asyncio.Lock()

    def prepare(self) -> None:
        """Create the directories."""
        self.temp_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        """Where the file with this digest is stored."""
        if SHA256_HEX.fullmatch(sha256) is None:
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def thumbnail_path_for(self, sha256: str) -> Path:
        path = self.path_for(sha256)
        return path.with_name(path.name + ".thumb")

    def temp_path(self, suffix: str = ".part") -> Path:
        """A fresh path in the temp directory."""
        return self.temp_dir / f"{secrets.token_hex(16)}{suffix}"

    async def receive(self, chunks: AsyncIterable[bytes], limit: int) -> Received:
        """Stream `chunks` into a temp file, hashing and counting; never whole in memory.

        Past `limit` bytes it raises `TooLarge`; on any failure the temp file is removed.
        """
        path = self.temp_path()
        file = path.open("xb")
        hasher = hashlib.sha256()
        size = 0
        buffer = bytearray()
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the upload is over the limit of {limit} bytes")
                buffer += chunk
                if len(buffer) >= WRITE_BUFFER_BYTES:
                    pending, buffer = buffer, bytearray()
                    await asyncio.to_thread(_write_and_hash, file, hasher, pending)
            if buffer:
                await asyncio.to_thread(_write_and_hash, file, hasher, buffer)
            file.close()
        except BaseException:
            file.close()
            path.unlink(missing_ok=True)
            raise
        return Received(path=path, size=size, sha256=hasher.hexdigest())

    def place(self, source: Path, sha256: str, thumbnail: Path | None = None) -> None:
        """Move `source` (and its thumbnail) to their content addresses, durably.

        If the same bytes are stored already, `source` is simply dropped. Blocking: run
        it in a thread.
        """
        target = self.path_for(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        _move_durably(source, target)
        if thumbnail is not None:
            _move_durably(thumbnail, self.thumbnail_path_for(sha256))
        _fsync_dir(target.parent)

    def remove(self, sha256: str) -> None:
        """Delete a stored file and its thumbnail (blocking)."""
        self.path_for(sha256).unlink(missing_ok=True)
        self.thumbnail_path_for(sha256).unlink(missing_ok=True)

    def sweep_temp(self, max_age_s: float, now: float | None = None) -> int:
        """Delete temp files untouched for `max_age_s` (left by a crash); returns how many."""
        cutoff = (time.time() if now is None else now) - max_age_s
        removed = 0
        for entry in self.temp_dir.iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # an upload finished with it meanwhile
        return removed


def sha256_of(path: Path) -> tuple[str, int]:
    """The SHA-256 hex digest and the size of a file, read a chunk at a time."""
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(HASH_CHUNK_BYTES):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _write_and_hash(file: BinaryIO, hasher: hashlib._Hash, data: bytearray) -> None:
    file.write(data)
    hasher.update(data)  # hashlib releases the GIL for large buffers: this thread runs free


def _move_durably(source: Path, target: Path) -> None:
    if target.exists():
        source.unlink()  # content-addressed: identical bytes are there already
        return
    with source.open("rb") as file:
        os.fsync(file.fileno())
    os.replace(source, target)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Files for uploads and downloads, read and written a chunk at a time, off the event loop.

Media files can be large (16 MiB by default, more if the server allows): they are never
read whole into memory, and disk I/O runs in a worker thread so that the client's MQTT
session keeps going meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 256 * 1024
OCTET_STREAM = "application/octet-stream"
# The contract's formats by their usual extensions. Not `mimetypes`: its answers depend on
# the machine's files (.ogg and .m4a are unknown without /etc/mime.types), and a guess such
# as `text/plain` would only get a good file refused: the server sniffs the bytes anyway,
# and octet-stream agrees with anything.
MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".webm": "audio/webm",
}


def guess_media_type(path: Path) -> str:
    """The media type a file name suggests (`photo.jpg`: `image/jpeg`), or octet-stream."""
    return MEDIA_TYPES.get(path.suffix.lower(), OCTET_STREAM)


async def file_size(path: Path) -> int:
    """The size of a regular file; raises OSError (e.g. FileNotFoundError) as `stat` does."""
    stat = await asyncio.to_thread(path.stat)
    return stat.st_size


async def file_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """The file's bytes, `chunk_bytes` at a time."""
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, chunk_bytes):
            yield chunk
    finally:
        handle.close()


class PartFile:
    """Write `dest` through a hidden `.part` file beside it, renamed into place on `commit`.

    A download that fails or is interrupted leaves no half file under the name asked for.
    `sha256` is the digest of what was written.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.part = dest.with_name(f".{dest.name}.part")
        self.size = 0
        self._digest = hashlib.sha256()
        self._handle: BinaryIO | None = None

    async def open(self) -> None:
        """Create (or truncate) the `.part` file."""
        self._handle = await asyncio.to_thread(self.part.open, "wb")

    async def write(self, chunk: bytes) -> None:
        """Append a chunk."""
        assert self._handle is not None
        await asyncio.to_thread(self._handle.write, chunk)
        self._digest.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the bytes written so far."""
        return self._digest.hexdigest()

    async def commit(self) -> None:
        """Flush to disk and move the file to `dest`."""
        assert self._handle is not None
        handle, self._handle = self._handle, None
        await asyncio.to_thread(_close_durably, handle)
        await asyncio.to_thread(os.replace, self.part, self.dest)

    async def discard(self) -> None:
        """Remove the `.part` file (after a failure); harmless after `commit`."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.part.unlink)


def _close_durably(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()

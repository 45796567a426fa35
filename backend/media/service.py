"""The media service: the upload pipeline, and who may read what.

An upload goes: body streamed to a temp file (hashed, counted, cut off past the
largest limit) -> format sniffed from its first bytes -> declared type checked for
the same kind -> per-kind limit -> the whole file parsed (images re-encoded without
metadata, voice notes checked) -> file placed at its content address -> row recorded
under a fresh random id. Any failure removes the temp files and stores nothing.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from backend.errors import InvalidRequest, NotFound, TooLarge, Unavailable, UnsupportedType
from backend.media import images, sniff, voice
from backend.media.sniff import MediaKind, MediaType
from backend.media.storage import MediaStorage, sha256_of
from backend.service import Clock, wall_clock_ms
from backend.store.base import Store
from backend.wire import MediaInfo

log = logging.getLogger(__name__)

MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
THUMBNAIL_MIME = "image/jpeg"
# The file system's trouble, not the upload's: answered 503 `unavailable`.
DISK_TROUBLE = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}
ACCEPTED = "JPEG, PNG, WebP, GIF images; Ogg/Opus, MP4/AAC (m4a), MP3, WebM voice notes"


def new_media_id() -> str:
    """A fresh unguessable id (128 random bits), unrelated to the file or its owner."""
    return secrets.token_urlsafe(16)


def is_media_id(value: str) -> bool:
    return MEDIA_ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class MediaLimits:
    image_bytes: int
    voice_bytes: int
    image_pixels: int

    @property
    def upload_bytes(self) -> int:
        """What a body may reach while streaming, before its kind is known."""
        return max(self.image_bytes, self.voice_bytes)

    def bytes_for(self, kind: MediaKind) -> int:
        return self.image_bytes if kind == "image" else self.voice_bytes


class UploadBody(Protocol):
    """An upload as the HTTP layer hands it over."""

    @property
    def declared_type(self) -> str | None:
        """The client's Content-Type for the file; known once `chunks` is exhausted."""

    def chunks(self) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file a user may read, and how to describe it over HTTP."""

    path: Path
    mime: str
    etag: str


@dataclass(frozen=True, slots=True)
class _Prepared:
    path: Path  # the bytes to store
    thumbnail: Path | None
    sha256: str
    size: int
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    preview: str | None = None


class MediaService:
    """Uploads and downloads of media over a `Store` and a `MediaStorage`."""

    def __init__(
        self,
        store: Store,
        storage: MediaStorage,
        limits: MediaLimits,
        clock: Clock = wall_clock_ms,
        parallel_decodes: int = 2,
    ) -> None:
        self.store = store
        self.storage = storage
        self.limits = limits
        self.clock = clock
        # A 50-megapixel image takes a few hundred MB to decode: bound how many at once.
        self._decoding = asyncio.Semaphore(parallel_decodes)
        images.set_pixel_limit(limits.image_pixels)

    async def upload(self, owner: str, body: UploadBody) -> MediaInfo:
        """Receive, check, process and store one upload of `owner`; its `media` object.

        A full (or failing) disk is `Unavailable`: the upload may be tried again later.
        """
        try:
            return await self._upload(owner, body)
        except OSError as exc:
            if exc.errno not in DISK_TROUBLE:
                raise
            raise Unavailable(f"the server cannot store uploads now ({exc.strerror})") from exc

    async def _upload(self, owner: str, body: UploadBody) -> MediaInfo:
        received = await self.storage.receive(body.chunks(), self.limits.upload_bytes)
        temp_files = [received.path]
        try:
            if received.size == 0:
                raise InvalidRequest("the upload is empty")
            sniffed = await asyncio.to_thread(_sniff_file, received.path)
            media_type = _check_type(sniffed, body.declared_type)
            limit = self.limits.bytes_for(media_type.kind)
            if received.size > limit:
                raise TooLarge(f"a {media_type.kind} may be at most {limit} bytes")
            if media_type.is_image:
                prepared = await self._prepare_image(received.path, media_type, temp_files)
            else:
                info = await asyncio.to_thread(voice.probe_voice, received.path, media_type)
                prepared = _Prepared(
                    path=received.path,
                    thumbnail=None,
                    sha256=received.sha256,
                    size=received.size,
                    duration_ms=info.duration_ms,
                )
            return await self._record(owner, media_type, prepared)
        finally:
            for path in temp_files:
                path.unlink(missing_ok=True)

    async def _prepare_image(
        self, source: Path, media_type: MediaType, temp_files: list[Path]
    ) -> _Prepared:
        dest = self.storage.temp_path(".image")
        thumbnail = self.storage.temp_path(".thumb")
        temp_files += [dest, thumbnail]
        async with self._decoding:
            processed = await asyncio.to_thread(
                images.process_image,
                source,
                media_type,
                dest,
                thumbnail,
                self.limits.image_pixels,
            )
        sha256, size = await asyncio.to_thread(sha256_of, dest)
        return _Prepared(
            path=dest,
            thumbnail=thumbnail,
            sha256=sha256,
            size=size,
            width=processed.width,
            height=processed.height,
            preview=processed.preview,
        )

    async def _record(self, owner: str, media_type: MediaType, prepared: _Prepared) -> MediaInfo:
        info = MediaInfo(
            id=new_media_id(),
            mime=media_type.mime,
            size=prepared.size,
            sha256=prepared.sha256,
            width=prepared.width,
            height=prepared.height,
            duration_ms=prepared.duration_ms,
            thumb=prepared.preview,
        )
        async with self.storage.lock:
            await asyncio.to_thread(
                self.storage.place, prepared.path, prepared.sha256, prepared.thumbnail
            )
            await self.store.add_media(owner, media_type.kind, info, self.clock())
        return info

    async def locate(self, user: str, media_id: str, thumbnail: bool = False) -> StoredFile:
        """The file behind `media_id` if `user` may read it; `NotFound` otherwise.

        Absent and forbidden look the same, so that ids cannot be probed for existence.
        """
        found = await self.store.get_media(media_id) if is_media_id(media_id) else None
        if found is None or not await self.store.may_read_media(user, media_id):
            raise NotFound(f"no media {media_id[:64]!r}")
        _, kind, info = found
        if not thumbnail:
            return StoredFile(self.storage.path_for(info.sha256), info.mime, f'"{info.sha256}"')
        if kind != "image":
            raise NotFound(f"media {media_id[:64]!r} is a {kind}: it has no thumbnail")
        return StoredFile(
            self.storage.thumbnail_path_for(info.sha256), THUMBNAIL_MIME, f'"{info.sha256}-thumb"'
        )


def _sniff_file(path: Path) -> MediaType | None:
    with path.open("rb") as file:
        return sniff.sniff(file.read(sniff.SNIFF_BYTES))


def _check_type(media_type: MediaType | None, declared: str | None) -> MediaType:
    if media_type is None:
        raise UnsupportedType(f"the bytes are none of the accepted formats ({ACCEPTED})")
    if not sniff.agrees(declared, media_type):
        raise UnsupportedType(
            f"declared as {declared!r} but the bytes are {media_type.mime}: "
            f"not the kind of media the declared type says"
        )
    return media_type

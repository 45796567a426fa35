"""Which media format a file is, from its first bytes (magic numbers) alone.

The declared `Content-Type` of an upload is never trusted: a client may be wrong or
lying, and the type the server records is what recipients' apps will decode. The
declared type is only checked for agreement on the *kind* (image or voice), so that a
client that meant to send a photo does not silently send something else.

Pure functions over bytes: no I/O. Recognizing a format here is necessary, not
sufficient; `images` and `voice` then parse the whole file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from backend.media import webm
from backend.media.containers import id3v2_size, mpeg_frame

MediaKind = Literal["image", "voice"]

SNIFF_BYTES = 4096  # every check below looks no further than this


@dataclass(frozen=True, slots=True)
class MediaType:
    """A format mqchat accepts."""

    kind: MediaKind
    mime: str
    name: str  # short and stable: used in messages and to pick the parser

    @property
    def is_image(self) -> bool:
        return self.kind == "image"


JPEG = MediaType("image", "image/jpeg", "jpeg")
PNG = MediaType("image", "image/png", "png")
WEBP = MediaType("image", "image/webp", "webp")
GIF = MediaType("image", "image/gif", "gif")
OGG_OPUS = MediaType("voice", "audio/ogg", "ogg-opus")
MP4_AUDIO = MediaType("voice", "audio/mp4", "mp4")
MP3 = MediaType("voice", "audio/mpeg", "mp3")
WEBM_AUDIO = MediaType("voice", "audio/webm", "webm")

ALL_TYPES = (JPEG, PNG, WEBP, GIF, OGG_OPUS, MP4_AUDIO, MP3, WEBM_AUDIO)

# MP4 brands of audio files (iTunes/Apple "M4A ", Android's "mp42"/"isom"/"3gp*" recordings).
# Image containers built on the same box format (HEIC "heic"/"mif1", AVIF "avif") are not here.
_MP4_AUDIO_BRANDS = frozenset(
    {b"M4A ", b"M4B ", b"mp41", b"mp42", b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"dash"}
    | {b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3g2a", b"F4A "}
)


def sniff(head: bytes) -> MediaType | None:
    """The accepted format whose signature `head` starts with, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:16] in (b"VP8 ", b"VP8L", b"VP8X"):
        return WEBP
    if _is_ogg_opus(head):
        return OGG_OPUS
    if _is_mp4_audio(head):
        return MP4_AUDIO
    if _is_mp3(head):
        return MP3
    if webm.doc_type(head) == "webm":
        return WEBM_AUDIO
    return None


def _is_ogg_opus(head: bytes) -> bool:
    # The first page must begin a stream (BOS flag) whose first packet is an OpusHead.
    if len(head) < 28 or head[:4] != b"OggS" or head[4] != 0 or not head[5] & 0x02:
        return False
    segments = head[26]
    body = 27 + segments
    return head[body : body + 8] == b"OpusHead"


def _is_mp4_audio(head: bytes) -> bool:
    if len(head) < 16 or head[4:8] != b"ftyp":
        return False
    (size,) = struct.unpack_from(">I", head)
    if size < 16 or size > len(head):
        return False
    compatible = {head[offset : offset + 4] for offset in range(16, size - 3, 4)}
    return head[8:12] in _MP4_AUDIO_BRANDS or b"M4A " in compatible


def _is_mp3(head: bytes) -> bool:
    tag = id3v2_size(head)
    if tag is not None:
        # The frames may be beyond `head` (cover art makes tags large): the full parse decides.
        return len(head) <= tag or mpeg_frame(head[tag : tag + 4]) is not None
    frame = mpeg_frame(head[:4])
    if frame is None:
        return False
    # One frame header could be chance; require the next one where the first says it is.
    following = head[frame.length : frame.length + 4]
    return len(following) < 4 or mpeg_frame(following) is not None


# The declared type

_UNSPECIFIC = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# Containers that file pickers and browsers label as video or application even when they
# hold audio only.
_VOICE_CONTAINERS = frozenset({"application/ogg", "video/ogg", "video/webm", "video/mp4"})


def declared_kind(content_type: str | None) -> MediaKind | Literal["other"] | None:
    """What kind of media a declared `Content-Type` claims; None when it claims nothing."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base in _UNSPECIFIC:
        return None
    if base.startswith("image/"):
        return "image"
    if base.startswith("audio/") or base in _VOICE_CONTAINERS:
        return "voice"
    return "other"


def agrees(content_type: str | None, sniffed: MediaType) -> bool:
    """Whether the declared type is unspecific or of the sniffed type's kind.

    Only the kind matters: `image/png` on JPEG bytes is a mislabel the server corrects,
    `image/png` on an Ogg file is a different thing from what the client meant to send.
    """
    claimed = declared_kind(content_type)
    return claimed is None or claimed == sniffed.kind

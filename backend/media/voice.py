"""Voice notes: check the whole container and read the duration.

mutagen reads Ogg/Opus, MP4 and MP3; it has no WebM, which `webm` handles. Before
mutagen, a structural walk (`containers`) checks that the file is complete: mutagen
alone happily reports a duration for a file cut off half way. Voice notes are stored
as uploaded, byte for byte: re-encoding audio is a job for a transcoder, not for an
upload handler, and none of these containers carries location data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import mutagen
from mutagen.mp3 import MP3 as MutagenMP3
from mutagen.mp4 import MP4 as MutagenMP4
from mutagen.oggopus import OggOpus

from backend.errors import UnsupportedType
from backend.media import containers, webm
from backend.media.sniff import MP3, MP4_AUDIO, OGG_OPUS, WEBM_AUDIO, MediaType

MAX_MOOV_BYTES = 8 << 20  # a voice note's index is kilobytes; more is not a voice note

# What a broken file can make a parser raise; anything else is a bug and should surface.
_PARSE_ERRORS = (
    mutagen.MutagenError,
    ValueError,  # containers.Malformed is one
    struct.error,
    EOFError,
    IndexError,
    KeyError,
    OverflowError,
)


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    duration_ms: int | None


def probe_voice(path: Path, media_type: MediaType) -> VoiceInfo:
    """Check the whole file at `path` as `media_type`; `UnsupportedType` says what is wrong."""
    probe = _PROBES.get(media_type.name)
    if probe is None:
        raise UnsupportedType(f"{media_type.mime} is not a voice format")
    try:
        with path.open("rb") as file:
            duration_ms = probe(file)
    except _PARSE_ERRORS as exc:
        raise UnsupportedType(f"not a valid {media_type.mime} voice note: {exc}") from None
    return VoiceInfo(duration_ms=duration_ms)


def _ogg_opus(file: BinaryIO) -> int | None:
    containers.check_ogg(file)
    file.seek(0)
    return _milliseconds(_stream_info(OggOpus, file).length)


def _mp3(file: BinaryIO) -> int | None:
    duration_ms = containers.mp3_duration_ms(file)
    file.seek(0)
    _stream_info(MutagenMP3, file)  # its own checks of header and tags; the frame count is exact
    return duration_ms


def _mp4(file: BinaryIO) -> int | None:
    moov = None
    for box in containers.top_level_boxes(file):
        if box.kind == b"moov":
            if box.end - box.start > MAX_MOOV_BYTES:
                raise containers.Malformed(f"a moov box of {box.end - box.start} bytes")
            file.seek(box.start)
            moov = file.read(box.end - box.start)
    if moov is None:
        raise containers.Malformed("no moov box (the index of the file)")
    handlers = containers.mp4_track_handlers(moov)
    if b"soun" not in handlers or b"vide" in handlers:
        raise containers.Malformed("a voice note has an audio track and no video track")
    file.seek(0)
    info = _stream_info(MutagenMP4, file)
    if not str(info.codec).startswith("mp4a"):
        raise containers.Malformed(f"the audio is {info.codec}, not AAC")
    return _milliseconds(info.length)


def _webm(file: BinaryIO) -> int | None:
    return webm.probe_webm(file).duration_ms


def _stream_info(parser: Any, file: BinaryIO) -> Any:
    # mutagen ships partial annotations; its stream info is dynamically typed.
    return parser(file).info


def _milliseconds(seconds: float) -> int:
    return max(0, round(seconds * 1000))


_PROBES = {
    OGG_OPUS.name: _ogg_opus,
    MP3.name: _mp3,
    MP4_AUDIO.name: _mp4,
    WEBM_AUDIO.name: _webm,
}

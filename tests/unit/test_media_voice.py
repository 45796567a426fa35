"""Voice notes: durations, and every kind of truncation or lie refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.errors import UnsupportedType
from backend.media import sniff
from backend.media.sniff import MP3, MP4_AUDIO, OGG_OPUS, WEBM_AUDIO, MediaType
from backend.media.voice import probe_voice
from tests.support import media_files

SAMPLES: dict[str, tuple[bytes, MediaType, int | None]] = {
    "ogg-opus": (media_files.ogg_opus(150), OGG_OPUS, media_files.ogg_opus_duration_ms(150)),
    "ogg-opus-one-page": (
        media_files.ogg_opus(7, per_page=50),
        OGG_OPUS,
        media_files.ogg_opus_duration_ms(7),
    ),
    "mp3": (media_files.mp3(100), MP3, media_files.mp3_duration_ms(100)),
    "mp3-id3": (media_files.mp3(40, id3=True), MP3, media_files.mp3_duration_ms(40)),
    "mp3-id3v1-trailer": (
        media_files.mp3(40) + b"TAG" + bytes(125),
        MP3,
        media_files.mp3_duration_ms(40),
    ),
    "m4a": (media_files.m4a(2500), MP4_AUDIO, 2500),
    "webm": (media_files.webm(1800.0), WEBM_AUDIO, 1800),
    "webm-no-duration": (media_files.webm(None), WEBM_AUDIO, None),
    "webm-live": (media_files.webm(live=True), WEBM_AUDIO, None),
}


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "upload"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_durations(tmp_path: Path, name: str) -> None:
    data, media_type, duration_ms = SAMPLES[name]
    assert sniff.sniff(data[: sniff.SNIFF_BYTES]) == media_type
    assert probe_voice(write(tmp_path, data), media_type).duration_ms == duration_ms


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_file_cut_short_is_refused(tmp_path: Path, name: str) -> None:
    data, media_type, _ = SAMPLES[name]
    for cut in (1, 3, 17, len(data) // 3 + 1):
        with pytest.raises(UnsupportedType, match="not a valid"):
            probe_voice(write(tmp_path, data[:-cut]), media_type)


def test_an_mp3_with_garbage_after_its_frames_is_refused(tmp_path: Path) -> None:
    data = media_files.mp3(20) + b"<script>alert(1)</script>" * 40
    with pytest.raises(UnsupportedType, match="no MPEG audio frame"):
        probe_voice(write(tmp_path, data), MP3)


def test_an_ogg_with_a_broken_page_is_refused(tmp_path: Path) -> None:
    data = bytearray(media_files.ogg_opus(150))
    second_audio_page = data.index(b"OggS", data.index(b"OggS", 200) + 4)
    data[second_audio_page : second_audio_page + 4] = b"Junk"
    with pytest.raises(UnsupportedType, match="no Ogg page"):
        probe_voice(write(tmp_path, bytes(data)), OGG_OPUS)


def test_an_mp4_with_a_video_track_is_not_a_voice_note(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedType, match="no video track"):
        probe_voice(write(tmp_path, media_files.m4a(with_video=True)), MP4_AUDIO)


def test_a_webm_with_a_video_track_is_not_a_voice_note(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedType, match="audio tracks and nothing else"):
        probe_voice(write(tmp_path, media_files.webm(track_type=1)), WEBM_AUDIO)


def test_an_mp4_without_its_index_is_refused(tmp_path: Path) -> None:
    data = media_files.m4a()
    moov = data.index(b"moov") - 4
    without_moov = data[:moov] + b"\x00\x00\x00\x10free" + bytes(8)
    with pytest.raises(UnsupportedType, match="no moov"):
        probe_voice(write(tmp_path, without_moov), MP4_AUDIO)


def test_an_image_is_not_a_voice_format(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedType):
        probe_voice(write(tmp_path, media_files.photo()), sniff.JPEG)

"""Format sniffing from magic numbers, and the declared type's agreement with it."""

from __future__ import annotations

import struct

import pytest

from backend.media import sniff
from backend.media.sniff import GIF, JPEG, MP3, MP4_AUDIO, OGG_OPUS, PNG, WEBM_AUDIO, WEBP
from tests.support import media_files

SAMPLES = {
    "jpeg": (media_files.photo(fmt="JPEG"), JPEG),
    "png": (media_files.photo(fmt="PNG"), PNG),
    "webp-lossy": (media_files.photo(fmt="WEBP"), WEBP),
    "webp-lossless": (media_files.photo(fmt="WEBP", lossless=True), WEBP),
    "webp-alpha": (media_files.photo(fmt="WEBP", mode="RGBA"), WEBP),
    "gif": (media_files.photo(fmt="GIF"), GIF),
    "gif-animated": (media_files.animated_gif(), GIF),
    "ogg-opus": (media_files.ogg_opus(), OGG_OPUS),
    "m4a": (media_files.m4a(), MP4_AUDIO),
    "mp3": (media_files.mp3(), MP3),
    "mp3-id3": (media_files.mp3(id3=True), MP3),
    "webm": (media_files.webm(), WEBM_AUDIO),
    "webm-live": (media_files.webm(live=True), WEBM_AUDIO),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_accepted_format_is_recognized(name: str) -> None:
    data, expected = SAMPLES[name]
    assert sniff.sniff(data[: sniff.SNIFF_BYTES]) == expected


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_head_cut_inside_the_signature_is_not_recognized(name: str) -> None:
    data, _ = SAMPLES[name]
    for length in range(0, 3):
        assert sniff.sniff(data[:length]) is None


def test_kinds_and_mimes() -> None:
    assert {t.mime for t in sniff.ALL_TYPES if t.kind == "image"} == {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
    }
    assert {t.mime for t in sniff.ALL_TYPES if t.kind == "voice"} == {
        "audio/ogg",
        "audio/mp4",
        "audio/mpeg",
        "audio/webm",
    }


def _ogg_vorbis() -> bytes:
    data = bytearray(media_files.ogg_opus())
    start = 27 + data[26]
    data[start : start + 8] = b"\x01vorbis\x00"
    return bytes(data)


REFUSED = {
    "empty": b"",
    "text": b"hello, this is plain text and not an image\n" * 10,
    "html": b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
    "bmp": media_files.photo(fmt="BMP"),
    "tiff": media_files.photo(fmt="TIFF"),
    "heic": struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic",
    "avif": struct.pack(">I", 20) + b"ftypavif" + b"\x00\x00\x00\x00avif",
    "ogg-vorbis": _ogg_vorbis(),
    "ogg-not-first-page": media_files.ogg_page(0, 0, 1, 5, [b"OpusHead" + bytes(11)]),
    "matroska": media_files.webm(doc_type=b"matroska"),
    "ebml-no-doctype": b"\x1a\x45\xdf\xa3\x84\x42\x86\x81\x01",
    "mpeg-layer2": b"\xff\xfd\x90\xc4" + bytes(600),
    "adts-aac": b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(600),
    "lone-mp3-sync": b"\xff\xfb\x90\xc4" + bytes(413) + b"not a frame",
    "riff-wave": b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40),
    "riff-webp-bad-chunk": b"RIFF\x24\x00\x00\x00WEBPJUNK" + bytes(40),
    "id3-bad-size": b"ID3\x03\x00\x00\x80\x80\x80\x80" + bytes(100),
    "zeros": bytes(4096),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_other_formats_are_not_recognized(name: str) -> None:
    assert sniff.sniff(REFUSED[name][: sniff.SNIFF_BYTES]) is None


def test_mp3_with_a_large_id3_tag_is_left_to_the_full_parse() -> None:
    # Cover art can push the first frame past the sniffed head.
    head = b"ID3\x03\x00\x00" + bytes([0, 1, 0, 0]) + bytes(sniff.SNIFF_BYTES - 10)
    assert sniff.sniff(head) == MP3


@pytest.mark.parametrize(
    ("declared", "kind"),
    [
        (None, None),
        ("", None),
        ("application/octet-stream", None),
        ("image/png", "image"),
        ("IMAGE/JPEG; q=1", "image"),
        ("audio/ogg; codecs=opus", "voice"),
        ("audio/webm;codecs=opus", "voice"),
        ("video/webm", "voice"),
        ("video/mp4", "voice"),
        ("application/ogg", "voice"),
        ("text/plain", "other"),
        ("application/x-www-form-urlencoded", "other"),
        ("video/quicktime", "other"),
    ],
)
def test_declared_kind(declared: str | None, kind: str | None) -> None:
    assert sniff.declared_kind(declared) == kind


@pytest.mark.parametrize(
    ("declared", "sniffed", "agrees"),
    [
        (None, PNG, True),
        ("application/octet-stream", OGG_OPUS, True),
        ("image/png", JPEG, True),  # a mislabel within the kind: the sniffed type wins
        ("image/png", OGG_OPUS, False),
        ("audio/ogg", PNG, False),
        ("audio/mpeg", WEBM_AUDIO, True),
        ("text/plain", PNG, False),
        ("text/plain", MP3, False),
        ("video/webm", GIF, False),
    ],
)
def test_the_declared_type_must_be_of_the_sniffed_kind(
    declared: str | None, sniffed: sniff.MediaType, agrees: bool
) -> None:
    assert sniff.agrees(declared, sniffed) is agrees

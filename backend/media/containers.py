"""Structural checks of the voice containers: Ogg pages, MPEG audio frames, MP4 boxes.

mutagen reads a container's metadata but does not notice a file cut short in the
middle: it reports a duration for half a page or half a box. These walks check that
the file is one unbroken chain of its units from the first byte to the last, which is
what a truncated or spliced upload fails. They parse only; nothing here decodes audio.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO


class Malformed(ValueError):
    """The bytes break the container's structure; the message says where."""


# MPEG audio (MP3 is MPEG-1/2/2.5 Layer III)

_MPEG1_L3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_L3_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
# Keyed by the header's two version bits: 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5 (1 is reserved).
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True, slots=True)
class MpegFrame:
    length: int  # bytes, header included
    samples: int
    sample_rate: int


def mpeg_frame(header: bytes) -> MpegFrame | None:
    """The Layer III frame a 4-byte header announces, or None if it is not one."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 3
    layer = (header[1] >> 1) & 3
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 3
    # Free-format (index 0) and "bad" (15) bitrates have no computable frame length.
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    kbps = (_MPEG1_L3_KBPS if mpeg1 else _MPEG2_L3_KBPS)[bitrate_index]
    sample_rate = _SAMPLE_RATES[version][rate_index]
    padding = (header[2] >> 1) & 1
    length = (144 if mpeg1 else 72) * kbps * 1000 // sample_rate + padding
    return MpegFrame(length=length, samples=1152 if mpeg1 else 576, sample_rate=sample_rate)


def id3v2_size(head: bytes) -> int | None:
    """The size of an ID3v2 tag at the start of `head` (header included), or None."""
    if len(head) < 10 or head[:3] != b"ID3" or head[3] not in (2, 3, 4):
        return None
    size_bytes = head[6:10]
    if any(byte & 0x80 for byte in size_bytes):  # sizes are "syncsafe": 7 bits a byte
        return None
    size = 0
    for byte in size_bytes:
        size = size << 7 | byte
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def mp3_duration_ms(file: BinaryIO) -> int:
    """Walk every frame of an MP3 and return its exact duration.

    Leading ID3v2 tags and the trailing tags taggers append (ID3v1, APEv2, Lyrics3)
    are allowed; anything else between or after the frames, or a last frame cut
    short, is `Malformed`. Counting frames is also right for VBR files without a
    Xing header, where a duration estimated from the bitrate is not.
    """
    end = file.seek(0, 2)
    offset = 0
    while True:  # several ID3v2 tags may follow each other
        file.seek(offset)
        tag = id3v2_size(file.read(10))
        if tag is None:
            break
        offset += tag
    frames = samples = 0
    sample_rate = 0
    while offset < end:
        file.seek(offset)
        header = file.read(4)
        frame = mpeg_frame(header)
        if frame is None:
            if frames and _is_trailing_tag(file, offset, end):
                break
            raise Malformed(f"no MPEG audio frame at byte {offset}")
        if offset + frame.length > end:
            raise Malformed(f"the last frame (at byte {offset}) is cut short")
        if sample_rate and frame.sample_rate != sample_rate:
            raise Malformed(f"the sample rate changes at byte {offset}")
        sample_rate = frame.sample_rate
        frames += 1
        samples += frame.samples
        offset += frame.length
    if frames == 0:
        raise Malformed("no MPEG audio frames")
    return samples * 1000 // sample_rate


def _is_trailing_tag(file: BinaryIO, offset: int, end: int) -> bool:
    file.seek(offset)
    start = file.read(11)
    rest = end - offset
    if start.startswith(b"TAG") and rest in (128, 128 + 227):  # ID3v1, ID3v1 + "TAG+"
        return True
    return start.startswith((b"APETAGEX", b"LYRICSBEGIN"))


# Ogg

_OGG_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, type, granule, serial, seq, crc, n


@dataclass(frozen=True, slots=True)
class OggPage:
    offset: int
    header_type: int
    granule: int
    serial: int
    length: int  # header, segment table and body


def ogg_pages(file: BinaryIO) -> Iterator[OggPage]:
    """Every page of an Ogg file in order; `Malformed` if the chain breaks or stops short."""
    end = file.seek(0, 2)
    offset = 0
    while offset < end:
        file.seek(offset)
        header = file.read(_OGG_HEADER.size)
        if len(header) < _OGG_HEADER.size:
            raise Malformed(f"the page at byte {offset} is cut short")
        capture, version, header_type, granule, serial, _seq, _crc, segments = _OGG_HEADER.unpack(
            header
        )
        if capture != b"OggS" or version != 0:
            raise Malformed(f"no Ogg page at byte {offset}")
        table = file.read(segments)
        if len(table) < segments:
            raise Malformed(f"the page at byte {offset} is cut short")
        length = _OGG_HEADER.size + segments + sum(table)
        if offset + length > end:
            raise Malformed(f"the page at byte {offset} is cut short")
        yield OggPage(offset, header_type, granule, serial, length)
        offset += length


def check_ogg(file: BinaryIO) -> None:
    """An unbroken chain of pages, granule positions never going backwards per stream."""
    last_granule: dict[int, int] = {}
    for page in ogg_pages(file):
        if page.granule == -1:  # no packet ends on this page
            continue
        if page.granule < last_granule.get(page.serial, 0):
            raise Malformed(f"the granule position goes backwards at byte {page.offset}")
        last_granule[page.serial] = page.granule


# MP4 (ISO base media file format)


@dataclass(frozen=True, slots=True)
class Box:
    kind: bytes
    start: int  # of the payload
    end: int


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """The boxes laid end to end in `data[start:end]`; `Malformed` if they do not fit."""
    end = len(data) if end is None else end
    offset = start
    while offset < end:
        if end - offset < 8:
            raise Malformed(f"a box header at byte {offset} is cut short")
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            if end - offset < 16:
                raise Malformed(f"a box header at byte {offset} is cut short")
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise Malformed(f"the {kind!r} box at byte {offset} runs past its end")
        yield Box(kind, offset + header, offset + size)
        offset += size


def top_level_boxes(file: BinaryIO) -> Iterator[Box]:
    """The file's top-level boxes, read header by header (mdat is never read)."""
    end = file.seek(0, 2)
    offset = 0
    while offset < end:
        file.seek(offset)
        header = file.read(16)
        if len(header) < 8:
            raise Malformed(f"a box header at byte {offset} is cut short")
        size, kind = struct.unpack_from(">I4s", header)
        header_length = 8
        if size == 1:
            if len(header) < 16:
                raise Malformed(f"a box header at byte {offset} is cut short")
            (size,) = struct.unpack_from(">Q", header, 8)
            header_length = 16
        elif size == 0:  # the last box, running to the end of the file
            size = end - offset
        if size < header_length:
            raise Malformed(f"the {kind!r} box at byte {offset} has a bad size")
        if offset + size > end:
            raise Malformed(f"the {kind!r} box at byte {offset} is cut short")
        yield Box(kind, offset + header_length, offset + size)
        offset += size


def mp4_track_handlers(moov: bytes) -> list[bytes]:
    """The handler type (`soun`, `vide`, ...) of every track in a `moov` payload."""
    handlers = []
    for trak in boxes(moov):
        if trak.kind != b"trak":
            continue
        for mdia in boxes(moov, trak.start, trak.end):
            if mdia.kind != b"mdia":
                continue
            for hdlr in boxes(moov, mdia.start, mdia.end):
                if hdlr.kind == b"hdlr" and hdlr.end - hdlr.start >= 12:
                    # version/flags (4), pre_defined (4), then the handler type
                    handlers.append(moov[hdlr.start + 8 : hdlr.start + 12])
    return handlers

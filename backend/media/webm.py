"""Just enough of EBML (the Matroska/WebM encoding) to accept a WebM voice note.

mutagen has no WebM support, so this reads the little we need ourselves: the EBML
header's DocType (must be "webm"), the track types (audio only), the duration from
the segment's Info when the writer recorded one, and the element chain from the
first byte to the last (a file cut short fails). Browsers' MediaRecorder writes live
streams with no Duration and elements of unknown size; those are accepted and report
no duration.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from backend.media.containers import Malformed

EBML_MAGIC = b"\x1a\x45\xdf\xa3"
EBML_HEADER = 0x1A45DFA3
DOC_TYPE = 0x4282
SEGMENT = 0x18538067
INFO = 0x1549A966
TIMECODE_SCALE = 0x2AD7B1
DURATION = 0x4489
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_TYPE = 0x83
CLUSTER = 0x1F43B675

AUDIO_TRACK, VIDEO_TRACK = 2, 1
MAX_METADATA_BYTES = 1 << 20  # an Info or Tracks element larger than this is not a voice note
_UNKNOWN_SIZE_ALLOWED = (SEGMENT, CLUSTER)


@dataclass(frozen=True, slots=True)
class WebmInfo:
    duration_ms: int | None
    track_types: tuple[int, ...]


def read_vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int | None, int]:
    """One EBML variable-length integer at `pos`: `(value, next pos)`.

    IDs keep their length marker bit; sizes drop it, and a size whose bits are all
    ones means "unknown" (None).
    """
    if pos >= len(data):
        raise Malformed(f"an element header at byte {pos} is cut short")
    first = data[pos]
    length = 9 - first.bit_length() if first else 9
    if length > 8 or pos + length > len(data):
        raise Malformed(f"a bad or cut short element header at byte {pos}")
    value = int.from_bytes(data[pos : pos + length], "big")
    if keep_marker:
        return value, pos + length
    value &= (1 << (7 * length)) - 1
    unknown = value == (1 << (7 * length)) - 1
    return (None if unknown else value), pos + length


def read_element(data: bytes, pos: int) -> tuple[int, int | None, int]:
    """`(id, size or None if unknown, payload start)` of the element at `pos`."""
    element_id, pos = read_vint(data, pos, keep_marker=True)
    assert element_id is not None
    size, pos = read_vint(data, pos, keep_marker=False)
    return element_id, size, pos


def children(data: bytes, start: int, end: int) -> list[tuple[int, bytes]]:
    """The (id, payload) of every child element in `data[start:end]` (known sizes only)."""
    found = []
    pos = start
    while pos < end:
        element_id, size, pos = read_element(data, pos)
        if size is None or pos + size > end:
            raise Malformed(f"element {element_id:#x} runs past its parent")
        found.append((element_id, data[pos : pos + size]))
        pos += size
    return found


def doc_type(head: bytes) -> str | None:
    """The DocType of the EBML header at the start of `head`, or None if there is none."""
    if not head.startswith(EBML_MAGIC):
        return None
    try:
        _, size, start = read_element(head, 0)
        if size is None or start + size > len(head):
            return None
        for element_id, payload in children(head, start, start + size):
            if element_id == DOC_TYPE:
                return payload.rstrip(b"\x00").decode("ascii", "replace")
    except Malformed:
        return None
    return None


def probe_webm(file: BinaryIO) -> WebmInfo:
    """Walk a WebM file's elements; `Malformed` unless they chain to its last byte."""
    end = file.seek(0, 2)
    pos = _expect(file, 0, EBML_HEADER, end)[1]
    segment_size, pos = _expect(file, pos, SEGMENT, end)
    segment_end = end if segment_size is None else pos + segment_size
    if segment_end != end:
        raise Malformed("the file does not end where its segment does")
    scale, duration, tracks = 1_000_000, None, []
    while pos < segment_end:
        element_id, size, start = read_element(_peek(file, pos), 0)
        start += pos
        if size is None:
            if element_id not in _UNKNOWN_SIZE_ALLOWED:
                raise Malformed(f"element {element_id:#x} at byte {pos} has no size")
            pos = start  # a live-written cluster: walk its children as if they were siblings
            continue
        if start + size > segment_end:
            raise Malformed(f"element {element_id:#x} at byte {pos} is cut short")
        if element_id in (INFO, TRACKS):
            payload = _payload(file, start, size)
            if element_id == INFO:
                scale, duration = _info(payload, scale)
            else:
                tracks = _track_types(payload)
        pos = start + size
    if not tracks or any(kind != AUDIO_TRACK for kind in tracks):
        raise Malformed("a voice note has audio tracks and nothing else")
    duration_ms = None if duration is None else round(duration * scale / 1_000_000)
    return WebmInfo(duration_ms=duration_ms, track_types=tuple(tracks))


def _peek(file: BinaryIO, pos: int) -> bytes:
    file.seek(pos)
    return file.read(12)  # the longest element header: a 4-byte id and an 8-byte size


def _expect(file: BinaryIO, pos: int, wanted: int, end: int) -> tuple[int | None, int]:
    element_id, size, start = read_element(_peek(file, pos), 0)
    if element_id != wanted:
        raise Malformed(f"expected element {wanted:#x} at byte {pos}, found {element_id:#x}")
    start += pos
    if wanted == EBML_HEADER:
        if size is None or start + size > end:
            raise Malformed("the EBML header is cut short")
        return size, start + size
    return size, start


def _payload(file: BinaryIO, start: int, size: int) -> bytes:
    if size > MAX_METADATA_BYTES:
        raise Malformed(f"a metadata element of {size} bytes")
    file.seek(start)
    return file.read(size)


def _info(payload: bytes, scale: int) -> tuple[int, float | None]:
    duration = None
    for element_id, value in children(payload, 0, len(payload)):
        if element_id == TIMECODE_SCALE and value:
            scale = int.from_bytes(value, "big")
        elif element_id == DURATION and len(value) in (4, 8):
            duration = struct.unpack(">f" if len(value) == 4 else ">d", value)[0]
    if duration is not None and not (0 <= duration < 1e15):  # NaN, negative, absurd
        duration = None
    return scale, duration


def _track_types(payload: bytes) -> list[int]:
    types = []
    for element_id, entry in children(payload, 0, len(payload)):
        if element_id != TRACK_ENTRY:
            continue
        kinds = [
            int.from_bytes(value, "big")
            for child_id, value in children(entry, 0, len(entry))
            if child_id == TRACK_TYPE
        ]
        types.append(kinds[0] if kinds else 0)
    return types

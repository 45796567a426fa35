"""Media files made by the tests themselves: images with Pillow, voice containers by hand.

The voice files are minimal but valid containers (what mutagen and a player parse):
the audio payload is silence or filler, which no check here decodes.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

# Images

GPS_IFD = 0x8825
ORIENTATION = 0x0112
MAKE = 0x010F


def photo(
    width: int = 64, height: int = 48, fmt: str = "JPEG", mode: str = "RGB", **save: object
) -> bytes:
    """A picture whose left half is blue and right half red (so orientation shows)."""
    image = Image.new("RGB", (width, height), "red")
    image.paste("blue", (0, 0, width // 2, height))
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def noise(width: int, height: int, fmt: str = "PNG") -> bytes:
    """A picture of random grey noise: compresses badly, so it is large for its size."""
    buffer = io.BytesIO()
    Image.effect_noise((width, height), 80).save(buffer, fmt)
    return buffer.getvalue()


def jpeg_with_gps(width: int = 64, height: int = 48, orientation: int = 6) -> bytes:
    """A JPEG carrying EXIF GPS coordinates, a camera maker, an orientation and a comment."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "SpyCam"
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    return photo(width, height, "JPEG", exif=exif.tobytes(), comment=b"at home")


def animated_gif(frames: int = 4, edge: int = 32) -> bytes:
    images = [
        Image.new("RGB", (edge, edge), (60 * i % 256, 255 - 60 * i % 256, 0)) for i in range(frames)
    ]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buffer.getvalue()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header declares `width` x `height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def jpeg_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A tiny JPEG whose frame header (SOF) declares `width` x `height` pixels."""
    data = bytearray(photo(8, 8, "JPEG"))
    offset = 2
    while data[offset + 1] not in (0xC0, 0xC1, 0xC2):  # skip segments up to the SOF
        offset += 2 + struct.unpack(">H", data[offset + 2 : offset + 4])[0]
    data[offset + 5 : offset + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_screen_bomb(width: int = 65_535, height: int = 65_535) -> bytes:
    """A tiny GIF whose logical screen is `width` x `height`."""
    data = bytearray(photo(8, 8, "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def webp_canvas_bomb(width: int = 16_383, height: int = 16_383) -> bytes:
    """A tiny WebP whose extended header (VP8X) declares a `width` x `height` canvas."""
    simple = photo(8, 8, "WEBP")
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4)
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + simple[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def gif_frame_bomb(frames: int = 600, edge: int = 300) -> bytes:
    """An animation of many small but whole frames (each costs the canvas once decoded):
    600 frames of 300x300 are 54 megapixels in well under a megabyte."""
    palette = [0, 0, 0, 255, 255, 255] + [0] * 762
    images = []
    for index in range(frames):  # alternating, so that no two frames merge into one
        image = Image.new("P", (edge, edge), index % 2)
        image.putpalette(palette)
        images.append(image)
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=20)
    return buffer.getvalue()


# Ogg Opus


def _crc_table() -> list[int]:
    table = []
    for index in range(256):
        value = index << 24
        for _ in range(8):
            value = ((value << 1) ^ 0x04C11DB7) if value & 0x80000000 else value << 1
            value &= 0xFFFFFFFF
        table.append(value)
    return table


_CRC_TABLE = _crc_table()


def ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, initial value and final XOR 0."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[((crc >> 24) & 0xFF) ^ byte]
    return crc


def ogg_page(
    header_type: int, granule: int, serial: int, sequence: int, packets: list[bytes]
) -> bytes:
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    header = struct.pack(
        "<4sBBqIIIB", b"OggS", 0, header_type, granule, serial, sequence, 0, len(lacing)
    )
    page = bytearray(header + lacing + b"".join(packets))
    struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
    return bytes(page)


OPUS_PRE_SKIP = 312
OPUS_SILENCE = b"\xf8\xff\xfe"  # one 20 ms CELT frame of silence, as libopus encodes it


def ogg_opus(packets: int = 150, per_page: int = 50) -> bytes:
    """Mono Ogg Opus of `packets` 20 ms packets: (packets * 960 - 312) / 48 ms long."""
    serial = 0x5EED
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, OPUS_PRE_SKIP, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 5) + b"tests" + struct.pack("<I", 0)
    pages = [ogg_page(0x02, 0, serial, 0, [head]), ogg_page(0, 0, serial, 1, [tags])]
    written = 0
    while written < packets:
        count = min(per_page, packets - written)
        written += count
        last = written == packets
        pages.append(
            ogg_page(0x04 if last else 0, written * 960, serial, len(pages), [OPUS_SILENCE] * count)
        )
    return b"".join(pages)


def ogg_opus_duration_ms(packets: int) -> int:
    return round((packets * 960 - OPUS_PRE_SKIP) / 48)


# MP3

MP3_FRAME_HEADER = b"\xff\xfb\x90\xc4"  # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono
MP3_FRAME_BYTES = 417  # 144 * 128000 / 44100


def mp3(frames: int = 100, id3: bool = False) -> bytes:
    """`frames` silent frames (1152 samples each at 44.1 kHz), optionally after an ID3v2 tag."""
    frame = MP3_FRAME_HEADER + bytes(MP3_FRAME_BYTES - 4)
    tag = b""
    if id3:
        title = b"\x00" + b"voice note"  # encoding byte, then Latin-1 text
        body = b"TIT2" + struct.pack(">I", len(title)) + b"\x00\x00" + title
        tag = b"ID3\x03\x00\x00" + bytes(_syncsafe(len(body))) + body
    return tag + frame * frames


def mp3_duration_ms(frames: int) -> int:
    return frames * 1152 * 1000 // 44100


def _syncsafe(value: int) -> list[int]:
    return [(value >> shift) & 0x7F for shift in (21, 14, 7, 0)]


# MP4 / m4a


def _box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big"), *parts)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _esds() -> bytes:
    audio_config = b"\x12\x08"  # AAC LC, 44.1 kHz, mono
    specific = b"\x05" + bytes([len(audio_config)]) + audio_config
    decoder = (
        b"\x04"
        + bytes([13 + len(specific)])
        + b"\x40\x15"
        + bytes(3)
        + struct.pack(">II", 64000, 64000)
        + specific
    )
    sl_config = b"\x06\x01\x02"
    es = (
        b"\x03"
        + bytes([3 + len(decoder) + len(sl_config)])
        + struct.pack(">HB", 1, 0)
        + decoder
        + sl_config
    )
    return _full_box(b"esds", 0, 0, es)


def _track(handler: bytes, track_id: int, duration_ms: int) -> bytes:
    samples = duration_ms * 44100 // 1000
    if handler == b"soun":
        entry = _box(
            b"mp4a",
            bytes(6),
            struct.pack(">H", 1),
            bytes(8),
            struct.pack(">HHHHI", 1, 16, 0, 0, 44100 << 16),
            _esds(),
        )
        media_header = _full_box(b"smhd", 0, 0, bytes(4))
    else:
        entry = _box(b"avc1", bytes(6), struct.pack(">H", 1), bytes(70))
        media_header = _full_box(b"vmhd", 0, 1, bytes(8))
    sample_table = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry),
        _full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        _full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    data_info = _box(
        b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))
    )
    return _box(
        b"trak",
        _full_box(
            b"tkhd",
            0,
            7,
            struct.pack(">5I", 0, 0, track_id, 0, duration_ms),
            bytes(8),
            struct.pack(">hhhH", 0, 0, 0x100, 0),
            _MATRIX,
            bytes(8),
        ),
        _box(
            b"mdia",
            _full_box(b"mdhd", 0, 0, struct.pack(">4IHH", 0, 0, 44100, samples, 0x55C4, 0)),
            _full_box(b"hdlr", 0, 0, bytes(4), handler, bytes(12), b"handler\x00"),
            _box(b"minf", media_header, data_info, sample_table),
        ),
    )


def m4a(duration_ms: int = 2500, with_video: bool = False) -> bytes:
    """An AAC-in-MP4 file (ftyp, moov, mdat) that says it lasts `duration_ms`."""
    ftyp = _box(b"ftyp", b"M4A ", struct.pack(">I", 0), b"M4A mp42isom")
    header = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">5I", 0, 0, 1000, duration_ms, 0x10000),
        struct.pack(">H", 0x100),
        bytes(10),
        _MATRIX,
        bytes(24),
        struct.pack(">I", 3),
    )
    tracks = [_track(b"soun", 1, duration_ms)]
    if with_video:
        tracks.append(_track(b"vide", 2, duration_ms))
    return ftyp + _box(b"moov", header, *tracks) + _box(b"mdat", b"\x21" * 2000)


# WebM

_UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"


def _element(element_id: int, payload: bytes, unknown_size: bool = False) -> bytes:
    id_bytes = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    size = _UNKNOWN_SIZE if unknown_size else b"\x01" + len(payload).to_bytes(7, "big")
    return id_bytes + size + payload


def _uint(element_id: int, value: int) -> bytes:
    return _element(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def webm(
    duration_ms: float | None = 1800.0,
    doc_type: bytes = b"webm",
    live: bool = False,
    track_type: int = 2,
) -> bytes:
    """A WebM with one Opus track. `live`: sizes unknown and no duration, as MediaRecorder writes."""
    header = _element(
        0x1A45DFA3,
        _uint(0x4286, 1) + _uint(0x42F7, 1) + _uint(0x42F2, 4) + _uint(0x42F3, 8)
        + _element(0x4282, doc_type) + _uint(0x4287, 4) + _uint(0x4285, 2),
    )  # fmt: skip
    info = _uint(0x2AD7B1, 1_000_000) + _element(0x4D80, b"tests") + _element(0x5741, b"tests")
    if duration_ms is not None and not live:
        info += _element(0x4489, struct.pack(">d", duration_ms))
    audio = _element(0xE1, _element(0xB5, struct.pack(">d", 48000.0)) + _uint(0x9F, 1))
    entry = (
        _uint(0xD7, 1)
        + _uint(0x73C5, 1)
        + _uint(0x83, track_type)
        + _element(0x86, b"A_OPUS")
        + audio
    )
    blocks = b"".join(
        _element(0xA3, b"\x81" + struct.pack(">h", 20 * i) + b"\x80" + OPUS_SILENCE)
        for i in range(20)
    )
    cluster = _element(0x1F43B675, _uint(0xE7, 0) + blocks, unknown_size=live)
    body = _element(0x1549A966, info) + _element(0x1654AE6B, _element(0xAE, entry)) + cluster
    return header + _element(0x18538067, body, unknown_size=live)

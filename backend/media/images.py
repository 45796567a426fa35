"""Images: decode fully, strip metadata, keep upright, make the thumbnail and the preview.

What is stored is never the uploaded file but a re-encoding of its pixels, in the same
format: that is the one sure way to drop EXIF (GPS included), XMP, IPTC, comments and
whatever else a camera or an editor put there. The EXIF orientation is applied to the
pixels first, so the picture stays upright once the tag is gone, and an embedded
colour profile is converted to sRGB rather than carried along.

Animations (GIF, APNG, animated WebP) stay animated: every frame is decoded (which also
proves the file complete) and re-encoded, within a pixel budget over all frames; the
thumbnail and the preview show the first frame.

Decompression bombs: Pillow's `MAX_IMAGE_PIXELS` is set to the configured limit and its
`DecompressionBombWarning` is made an error for the whole process, so an image declaring
too many pixels is refused from its header, before any pixel is decoded.
"""

from __future__ import annotations

import base64
import struct
import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageSequence, JpegImagePlugin

from backend.errors import TooLarge, UnsupportedType
from backend.media.sniff import MediaType

# A warning nobody reads does not stop a bomb: in mqchat it is always an error.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

THUMBNAIL_EDGE = 320
PREVIEW_MAX_CHARS = 4096  # the contract's limit on `thumb`, a data: URL
_PREVIEW_EDGES = (48, 40, 32, 24, 16)
_PREVIEW_QUALITIES = (70, 55, 40, 25)
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}
# The only `info` entries that survive: how to draw the pixels, nothing about where or who.
_KEPT_INFO = ("transparency", "background", "duration", "loop")
_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# What a corrupt or truncated file can make Pillow raise.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    width: int
    height: int
    preview: str  # data: URL, at most PREVIEW_MAX_CHARS


@dataclass(slots=True)
class _Decoded:
    frames: list[Image.Image]
    save_options: dict[str, Any]


def set_pixel_limit(max_pixels: int) -> None:
    """Make Pillow refuse, from the header, any image of more than `max_pixels`."""
    Image.MAX_IMAGE_PIXELS = max_pixels


def process_image(
    source: Path, media_type: MediaType, dest: Path, thumbnail_dest: Path, max_pixels: int
) -> ProcessedImage:
    """Write the cleaned copy of `source` to `dest` and its JPEG thumbnail to `thumbnail_dest`.

    Raises `TooLarge` for too many pixels and `UnsupportedType` for a corrupt file.
    """
    pil_format = _PIL_FORMATS[media_type.name]
    try:
        decoded = _decode(source, pil_format, max_pixels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooLarge(f"the image has more than {max_pixels} pixels") from None
    except _DECODE_ERRORS as exc:
        raise UnsupportedType(
            f"the file looks like {media_type.mime} but is corrupt or truncated: {exc}"
        ) from None
    first = decoded.frames[0]
    try:
        _save(decoded, pil_format, dest)
        thumbnail = _shrunk(first, THUMBNAIL_EDGE)
        thumbnail.save(thumbnail_dest, "JPEG", quality=80, optimize=True)
        small = preview(thumbnail)
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the disk (full?), not the image: see MediaService.upload
        # Decoded but not re-encodable (an exotic mode or palette): refuse, do not crash.
        raise UnsupportedType(f"this {media_type.mime} cannot be processed: {exc}") from None
    return ProcessedImage(width=first.width, height=first.height, preview=small)


def preview(image: Image.Image) -> str:
    """A tiny JPEG of `image` as a data: URL of at most PREVIEW_MAX_CHARS characters."""
    for edge in _PREVIEW_EDGES:
        small = _shrunk(image, edge)
        for quality in _PREVIEW_QUALITIES:
            buffer = BytesIO()
            small.save(buffer, "JPEG", quality=quality, optimize=True)
            url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
            if len(url) <= PREVIEW_MAX_CHARS:
                return url
    raise AssertionError("a 16 px JPEG always fits in 4 KiB")


def _decode(source: Path, pil_format: str, max_pixels: int) -> _Decoded:
    # Our own file object: Pillow leaves it open to us, and the decoded image outlives it
    # without a copy (with `with Image.open(path)` the pixels go when the file closes).
    with source.open("rb") as file:
        image = Image.open(file, formats=[pil_format])
        width, height = image.size
        if width * height > max_pixels:
            raise TooLarge(f"the image is {width}x{height}, over {max_pixels} pixels")
        # Counting frames reads their headers only: an animation of too many frames is
        # refused before a frame is decoded (each costs the whole canvas once decoded).
        if width * height * getattr(image, "n_frames", 1) > max_pixels:
            raise TooLarge(f"the animation has more than {max_pixels} pixels over all frames")
        frames, durations = _frames(image, max_pixels)
        options = _save_options(image, source)
        orientation = image.getexif().get(_ORIENTATION)
        icc_profile = image.info.get("icc_profile")
        loop = image.info.get("loop")
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    cleaned = []
    for frame in frames:
        upright = frame.transpose(method) if method is not None else frame
        cleaned.append(_strip(_to_srgb(upright, icc_profile)))
    if len(cleaned) > 1:
        options.update(save_all=True, append_images=cleaned[1:], duration=durations)
        options["loop"] = loop if isinstance(loop, int) else 0
    return _Decoded(cleaned, options)


def _frames(image: Image.Image, max_pixels: int) -> tuple[list[Image.Image], list[int]]:
    """Every frame, decoded; the pixels of all frames together must stay within the limit."""
    if not getattr(image, "is_animated", False):
        image.load()  # decodes everything: a truncated file fails here
        return [image], [0]
    frames, durations = [], []
    budget = max_pixels
    for frame in ImageSequence.Iterator(image):
        budget -= frame.width * frame.height
        if budget < 0:
            raise TooLarge(f"the animation has more than {max_pixels} pixels over all frames")
        frames.append(frame.copy())
        duration = frame.info.get("duration")
        durations.append(int(duration) if isinstance(duration, int | float) else 100)
    return frames, durations


def _save_options(image: Image.Image, source: Path) -> dict[str, Any]:
    if isinstance(image, JpegImagePlugin.JpegImageFile):
        # The source's own quantization tables: re-encoding neither bloats nor degrades
        # the photo noticeably (what Pillow's quality="keep" does for unmodified images).
        sampling = JpegImagePlugin.get_sampling(image)
        options: dict[str, Any] = {"qtables": image.quantization}
        if sampling != -1:
            options["subsampling"] = sampling
        return options
    if image.format == "WEBP":
        with source.open("rb") as file:
            head = file.read(1 << 16)
        lossless = b"VP8L" in head and b"VP8 " not in head
        return {"lossless": lossless, "quality": 90 if not lossless else 80}
    return {}


def _save(decoded: _Decoded, pil_format: str, dest: Path) -> None:
    first = decoded.frames[0]
    if pil_format == "JPEG" and first.mode not in ("RGB", "L"):
        first = first.convert("RGB")
    elif pil_format == "WEBP" and first.mode not in ("RGB", "RGBA"):
        first = first.convert("RGBA" if _has_alpha(first) else "RGB")
    first.save(dest, pil_format, **decoded.save_options)


def _to_srgb(frame: Image.Image, icc_profile: object) -> Image.Image:
    if not isinstance(icc_profile, bytes) or not icc_profile:
        return frame
    if frame.mode not in ("RGB", "RGBA", "CMYK"):
        return frame
    try:
        source = ImageCms.ImageCmsProfile(BytesIO(icc_profile))
        mode = "RGBA" if frame.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(frame, source, _SRGB, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return frame  # a broken profile: the pixels as they are beat no picture at all
    return converted if converted is not None else frame


def _strip(frame: Image.Image) -> Image.Image:
    frame.info = {key: frame.info[key] for key in _KEPT_INFO if key in frame.info}
    return frame


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _shrunk(image: Image.Image, edge: int) -> Image.Image:
    """An RGB copy of `image` within `edge` x `edge`, made without a full-size copy."""
    factor = max(image.size) // (edge * 2)
    if factor > 1 and image.mode in ("L", "LA", "RGB", "RGBA"):
        image = image.reduce(factor)  # cheap box downscale first; thumbnail() finishes it
    small = _flatten(image)
    small.thumbnail((edge, edge))
    return small


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, any transparency composited on white (JPEG has no alpha)."""
    if not _has_alpha(image):
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background

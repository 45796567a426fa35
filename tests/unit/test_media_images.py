"""Image processing: metadata stripped, orientation applied, thumbnails, bombs, truncation."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from backend.errors import TooLarge, UnsupportedType
from backend.media import images
from backend.media.sniff import GIF, JPEG, PNG, WEBP, MediaType
from tests.support import media_files

MAX_PIXELS = 50_000_000
BLUE, RED = (0, 0, 255), (255, 0, 0)


def run(
    tmp_path: Path, data: bytes, media_type: MediaType, max_pixels: int = MAX_PIXELS
) -> tuple[images.ProcessedImage, Image.Image, Image.Image]:
    """Process `data`; the result, the stored image and the thumbnail (both in memory)."""
    source, dest, thumbnail = tmp_path / "in", tmp_path / "out", tmp_path / "thumb"
    source.write_bytes(data)
    processed = images.process_image(source, media_type, dest, thumbnail, max_pixels)
    return processed, in_memory(dest.read_bytes()), in_memory(thumbnail.read_bytes())


def in_memory(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def near(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel[:3], colour, strict=True))


def test_exif_gps_and_comments_are_gone_and_the_picture_stays_upright(tmp_path: Path) -> None:
    original = media_files.jpeg_with_gps(64, 48, orientation=6)
    assert in_memory(original).getexif().get(media_files.GPS_IFD)  # the premise
    processed, stored, _ = run(tmp_path, original, JPEG)
    raw = (tmp_path / "out").read_bytes()
    assert stored.format == "JPEG"
    assert len(stored.getexif()) == 0
    assert b"Exif" not in raw and b"SpyCam" not in raw and b"at home" not in raw
    # Orientation 6 means "rotate 90 clockwise to view": 64x48 becomes 48x64, and the
    # blue left half ends up on top.
    assert (processed.width, processed.height) == stored.size == (48, 64)
    rgb = stored.convert("RGB")
    assert near(rgb.getpixel((24, 8)), BLUE) and near(rgb.getpixel((24, 56)), RED)


@pytest.mark.parametrize(
    ("orientation", "top_left"),
    [(1, BLUE), (2, RED), (3, RED), (4, BLUE), (5, BLUE), (6, BLUE), (7, RED), (8, RED)],
)
def test_every_orientation_is_applied(
    tmp_path: Path, orientation: int, top_left: tuple[int, int, int]
) -> None:
    processed, stored, _ = run(tmp_path, media_files.jpeg_with_gps(64, 48, orientation), JPEG)
    expected_size = (64, 48) if orientation <= 4 else (48, 64)
    assert stored.size == expected_size == (processed.width, processed.height)
    assert near(stored.convert("RGB").getpixel((2, 2)), top_left)


@pytest.mark.parametrize(
    ("fmt", "media_type", "mode"),
    [("PNG", PNG, "RGBA"), ("PNG", PNG, "P"), ("WEBP", WEBP, "RGB"), ("GIF", GIF, "P")],
)
def test_other_formats_keep_their_format_and_lose_their_metadata(
    tmp_path: Path, fmt: str, media_type: MediaType, mode: str
) -> None:
    exif = Image.Exif()
    exif[media_files.MAKE] = "SpyCam"
    exif[media_files.GPS_IFD] = {1: "N", 2: (48.0, 51.0, 29.0)}
    extra: dict[str, object] = {"exif": exif.tobytes()} if fmt != "GIF" else {"comment": b"SpyCam"}
    processed, stored, thumbnail = run(
        tmp_path, media_files.photo(80, 40, fmt, mode=mode, **extra), media_type
    )
    assert stored.format == fmt and stored.size == (80, 40)
    assert b"SpyCam" not in (tmp_path / "out").read_bytes()
    assert thumbnail.format == "JPEG" and thumbnail.size == (80, 40)  # never enlarged
    assert processed.preview.startswith("data:image/jpeg;base64,")


def test_thumbnail_and_preview_sizes(tmp_path: Path) -> None:
    noisy = Image.effect_noise((1600, 1200), 90).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, "JPEG", quality=95)
    processed, stored, thumbnail = run(tmp_path, buffer.getvalue(), JPEG)
    assert stored.size == (1600, 1200)
    assert thumbnail.size == (images.THUMBNAIL_EDGE, 240)
    assert len(processed.preview) <= images.PREVIEW_MAX_CHARS
    tiny = in_memory(base64.b64decode(processed.preview.split(",", 1)[1]))
    assert tiny.format == "JPEG" and max(tiny.size) <= 48


def test_animated_gifs_stay_animated(tmp_path: Path) -> None:
    processed, stored, thumbnail = run(tmp_path, media_files.animated_gif(frames=4), GIF)
    assert getattr(stored, "n_frames", 1) == 4
    assert (processed.width, processed.height) == (32, 32)
    assert thumbnail.format == "JPEG"


def test_animations_count_every_frame_against_the_pixel_budget(tmp_path: Path) -> None:
    # 4 frames of 32x32 = 4096 pixels: within 3000 a frame, over 3000 in all.
    with pytest.raises(TooLarge, match="over all frames"):
        run(tmp_path, media_files.animated_gif(frames=4), GIF, max_pixels=3000)


def test_an_animation_of_too_many_frames_is_refused_before_a_frame_is_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(*_: object) -> None:
        raise AssertionError("a frame was decoded")

    bomb = media_files.gif_frame_bomb(600, 300)  # 54 megapixels
    monkeypatch.setattr(images.ImageSequence, "Iterator", no_decoding)
    with pytest.raises(TooLarge, match="over all frames"):
        run(tmp_path, bomb, GIF)


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (media_files.jpeg_bomb(), JPEG),
        (media_files.gif_screen_bomb(), GIF),
        (media_files.webp_canvas_bomb(), WEBP),
    ],
)
def test_bombs_of_every_image_format_are_refused_from_the_header(
    tmp_path: Path, data: bytes, media_type: MediaType
) -> None:
    assert len(data) < 1000
    with pytest.raises(TooLarge, match="pixels"):
        run(tmp_path, data, media_type)


def test_an_embedded_colour_profile_is_applied_not_carried_along(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    _, stored, _ = run(tmp_path, media_files.photo(fmt="JPEG", icc_profile=srgb), JPEG)
    assert "icc_profile" not in stored.info
    assert near(stored.convert("RGB").getpixel((2, 2)), BLUE)


def test_a_broken_colour_profile_is_dropped(tmp_path: Path) -> None:
    data = media_files.photo(fmt="PNG", icc_profile=b"not a profile at all")
    _, stored, _ = run(tmp_path, data, PNG)
    assert "icc_profile" not in stored.info
    assert near(stored.convert("RGB").getpixel((2, 2)), BLUE)


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    with pytest.raises(TooLarge, match="pixels"):
        run(tmp_path, media_files.png_bomb(30_000, 30_000), PNG)


def test_an_image_just_over_the_limit_is_refused(tmp_path: Path) -> None:
    images.set_pixel_limit(MAX_PIXELS)
    with pytest.raises(TooLarge, match="pixels"):
        run(tmp_path, media_files.png_bomb(100, 100), PNG, max_pixels=9_999)


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (media_files.photo(400, 300, "JPEG"), JPEG),
        (media_files.photo(400, 300, "PNG"), PNG),
        (media_files.photo(400, 300, "WEBP"), WEBP),
        (media_files.animated_gif(), GIF),
    ],
)
def test_truncated_images_are_refused(tmp_path: Path, data: bytes, media_type: MediaType) -> None:
    with pytest.raises(UnsupportedType, match="corrupt or truncated"):
        run(tmp_path, data[: len(data) * 2 // 3], media_type)


def test_bytes_of_another_format_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedType):
        run(tmp_path, media_files.photo(fmt="PNG"), JPEG)

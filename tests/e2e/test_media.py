"""Media end to end: upload, send over MQTT, receive the `media` object, download, ranges."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from PIL import Image

from backend.topics import InboxTopic
from tests.e2e.conftest import UserFactory
from tests.support import media_files
from tests.support.media_http import client, stored_path, temp_files, uploaded
from tests.support.mqtt import connect
from tests.support.server import ServerProcess

MEDIA_FIELDS = {"id", "mime", "size", "sha256", "width", "height", "duration_ms", "thumb"}


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


async def test_an_image_goes_from_upload_to_message_to_download(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob", "eve")
    alice, bob, eve = tokens
    original = media_files.jpeg_with_gps(640, 480, orientation=6)
    async with client(server, tokens[alice]) as http:
        media = await uploaded(http, original, "image/jpeg")
    assert set(media) == MEDIA_FIELDS
    assert (media["mime"], media["width"], media["height"], media["duration_ms"]) == (
        "image/jpeg",
        480,  # orientation 6: the 640x480 picture is upright as 480x640
        640,
        None,
    )
    thumb = media["thumb"]
    assert isinstance(thumb, str) and thumb.startswith("data:image/jpeg;base64,")
    assert len(thumb) <= 4096

    async with (
        connect(server.mqtt_port, alice, tokens[alice]) as sender,
        connect(server.mqtt_port, bob, tokens[bob]) as recipient,
    ):
        request = {"id": "p1", "to": bob, "kind": "image", "media": media["id"], "text": "look"}
        ack = await sender.send(request)
        assert "error" not in ack, ack
        message = await recipient.expect(InboxTopic.MSG)
    assert (message["kind"], message["text"], message["from"]) == ("image", "look", alice)
    assert message["media"] == media

    async with client(server, tokens[bob]) as http:
        download = await http.get(f"/v1/media/{media['id']}")
        assert download.status_code == 200
        assert download.headers["content-type"] == "image/jpeg"
        assert download.headers["etag"] == f'"{media["sha256"]}"'
        assert download.headers["accept-ranges"] == "bytes"
        assert download.headers["cache-control"] == "private"
        assert int(download.headers["content-length"]) == media["size"] == len(download.content)
        assert hashlib.sha256(download.content).hexdigest() == media["sha256"]
        stored = opened(download.content)
        assert stored.size == (480, 640)
        assert len(stored.getexif()) == 0  # no EXIF at all: GPS, maker, orientation all gone
        assert b"SpyCam" not in download.content and b"at home" not in download.content
        left_half_on_top = stored.convert("RGB").getpixel((240, 80))
        assert isinstance(left_half_on_top, tuple) and left_half_on_top[2] > 200  # blue

        preview = await http.get(f"/v1/media/{media['id']}/thumbnail")
        assert preview.status_code == 200
        assert preview.headers["content-type"] == "image/jpeg"
        assert preview.headers["etag"] != download.headers["etag"]
        assert opened(preview.content).size == (240, 320)
    # What is on disk is what is served: the stripped copy, not the upload.
    assert stored_path(server, str(media["sha256"])).read_bytes() == download.content

    async with client(server, tokens[eve]) as http:
        for path in (f"/v1/media/{media['id']}", f"/v1/media/{media['id']}/thumbnail"):
            refused = await http.get(path)
            assert refused.status_code == 404, path
            assert refused.json()["error"]["code"] == "not_found"


IMAGES = {
    "png": (media_files.photo(300, 200, "PNG", mode="RGBA"), "image/png", "image/png"),
    "webp": (media_files.photo(300, 200, "WEBP"), "image/webp", "image/webp"),
    "gif": (media_files.animated_gif(frames=3, edge=40), "image/gif", "image/gif"),
    # Mislabelled within the kind, or unlabelled: the sniffed type is what is recorded.
    "jpeg-called-png": (media_files.photo(300, 200, "JPEG"), "image/png", "image/jpeg"),
    "jpeg-unlabelled": (media_files.photo(300, 200, "JPEG"), None, "image/jpeg"),
}


@pytest.mark.parametrize("name", sorted(IMAGES))
async def test_every_image_format(
    server: ServerProcess, make_users: UserFactory, name: str
) -> None:
    data, declared, mime = IMAGES[name]
    (token,) = make_users("alice").values()
    async with client(server, token) as http:
        media = await uploaded(http, data, declared)
        assert media["mime"] == mime
        body = (await http.get(f"/v1/media/{media['id']}")).content
        assert opened(body).format == mime.split("/")[1].upper()
        assert (opened(body).size, (media["width"], media["height"])) == (
            opened(data).size,
            opened(data).size,
        )
        thumbnail = await http.get(f"/v1/media/{media['id']}/thumbnail")
        assert thumbnail.status_code == 200 and opened(thumbnail.content).format == "JPEG"
    if name == "gif":
        assert getattr(opened(body), "n_frames", 1) == 3  # animation kept


VOICE = {
    "ogg-opus": (media_files.ogg_opus(150), "audio/ogg", media_files.ogg_opus_duration_ms(150)),
    "mp3": (media_files.mp3(100), "audio/mpeg", media_files.mp3_duration_ms(100)),
    "mp3-id3": (media_files.mp3(60, id3=True), "audio/mpeg", media_files.mp3_duration_ms(60)),
    "m4a": (media_files.m4a(2500), "audio/mp4", 2500),
    "webm": (media_files.webm(1800.0), "audio/webm", 1800),
    "webm-live": (media_files.webm(live=True), "audio/webm", None),
}


@pytest.mark.parametrize("name", sorted(VOICE))
async def test_every_voice_format(
    server: ServerProcess, make_users: UserFactory, name: str
) -> None:
    data, mime, duration_ms = VOICE[name]
    (token,) = make_users("alice").values()
    async with client(server, token) as http:
        media = await uploaded(http, data, mime)
        assert {key: media[key] for key in MEDIA_FIELDS - {"id"}} == {
            "mime": mime,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),  # voice is stored byte for byte
            "width": None,
            "height": None,
            "duration_ms": duration_ms,
            "thumb": None,
        }
        assert (await http.get(f"/v1/media/{media['id']}")).content == data
        no_thumbnail = await http.get(f"/v1/media/{media['id']}/thumbnail")
        assert no_thumbnail.status_code == 404


async def test_a_voice_note_is_sent_and_heard(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    data = media_files.ogg_opus(100)
    async with client(server, tokens[alice]) as http:
        media = await uploaded(http, data, "audio/ogg; codecs=opus")
    async with (
        connect(server.mqtt_port, alice, tokens[alice]) as sender,
        connect(server.mqtt_port, bob, tokens[bob]) as recipient,
    ):
        ack = await sender.send({"id": "v1", "to": bob, "kind": "voice", "media": media["id"]})
        assert "error" not in ack, ack
        message = await recipient.expect(InboxTopic.MSG)
    assert (message["kind"], message["media"]) == ("voice", media)
    async with client(server, tokens[bob]) as http:
        assert (await http.get(f"/v1/media/{media['id']}")).content == data


async def test_multipart_uploads(server: ServerProcess, make_users: UserFactory) -> None:
    (token,) = make_users("alice").values()
    png = media_files.photo(fmt="PNG")
    async with client(server, token) as http:
        accepted = await http.post(
            "/v1/media",
            data={"caption": "ignored"},
            files={"file": ("photo.png", png, "image/png")},
        )
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["mime"] == "image/png"
        lie = await http.post("/v1/media", files={"file": ("a.ogg", png, "audio/ogg")})
        assert lie.status_code == 415
        no_file = await http.post("/v1/media", files={"picture": ("p.png", png, "image/png")})
        assert no_file.status_code == 400
        assert "file" in no_file.json()["error"]["message"]
        two = await http.post(
            "/v1/media",
            files=[("file", ("a.png", png, "image/png")), ("file", ("b.png", png, "image/png"))],
        )
        assert two.status_code == 400
    assert temp_files(server) == []


async def test_the_same_bytes_are_stored_once_under_distinct_ids(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    data = media_files.mp3(30)
    medias: list[dict[str, Any]] = []
    for token in tokens.values():
        async with client(server, token) as http:
            medias.append(await uploaded(http, data, "audio/mpeg"))
    first, second = medias
    assert first["id"] != second["id"]
    assert first["sha256"] == second["sha256"]
    assert stored_path(server, first["sha256"]).read_bytes() == data
    async with client(server, tokens[next(iter(tokens))]) as http:
        # Alice's upload of the same bytes gives her no access to Bob's.
        assert (await http.get(f"/v1/media/{second['id']}")).status_code == 404


async def test_ranges_and_conditional_requests(
    server: ServerProcess, make_users: UserFactory
) -> None:
    (token,) = make_users("alice").values()
    data = media_files.mp3(50)
    size = len(data)
    async with client(server, token) as http:
        media = await uploaded(http, data, "audio/mpeg")
        url = f"/v1/media/{media['id']}"
        etag = f'"{media["sha256"]}"'
        for header, start, end in [
            ("bytes=0-9", 0, 9),
            ("bytes=100-", 100, size - 1),
            ("bytes=-17", size - 17, size - 1),
            (f"bytes={size - 1}-{size + 1000}", size - 1, size - 1),
        ]:
            partial = await http.get(url, headers={"Range": header})
            assert partial.status_code == 206, header
            assert partial.headers["content-range"] == f"bytes {start}-{end}/{size}"
            assert partial.content == data[start : end + 1]
            assert int(partial.headers["content-length"]) == end - start + 1
            assert partial.headers["content-type"] == "audio/mpeg"

        unsatisfiable = await http.get(url, headers={"Range": f"bytes={size}-"})
        assert unsatisfiable.status_code == 416
        assert unsatisfiable.headers["content-range"] == f"bytes */{size}"
        assert unsatisfiable.json()["error"]["code"] == "range_not_satisfiable"

        for ignored in ("bytes=0-1,4-5", "pages=1-2", "bytes=9-3"):
            whole = await http.get(url, headers={"Range": ignored})
            assert (whole.status_code, whole.content) == (200, data), ignored

        not_modified = await http.get(url, headers={"If-None-Match": etag})
        assert (not_modified.status_code, not_modified.content) == (304, b"")
        assert not_modified.headers["etag"] == etag
        changed = await http.get(url, headers={"If-None-Match": '"something-else"'})
        assert changed.status_code == 200

        same = await http.get(url, headers={"Range": "bytes=0-3", "If-Range": etag})
        assert (same.status_code, same.content) == (206, data[:4])
        stale = await http.get(url, headers={"Range": "bytes=0-3", "If-Range": '"old"'})
        assert (stale.status_code, stale.content) == (200, data)

        head = await http.head(url)
        assert (head.status_code, head.content) == (200, b"")
        assert int(head.headers["content-length"]) == size

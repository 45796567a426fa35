"""What the media API refuses, end to end: lies, corrupt files, bombs, oversize, path tricks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from PIL import PngImagePlugin

from tests.e2e.conftest import UserFactory
from tests.support import media_files
from tests.support.media_http import (
    bearer,
    client,
    media_dir,
    stored_files,
    temp_files,
    upload,
    uploaded,
)
from tests.support.mqtt import connect
from tests.support.server import ServerProcess

MiB = 1024 * 1024
DEFAULT_LIMIT = 16 * MiB


@pytest.fixture(scope="module")
def uploader(server: ServerProcess) -> str:
    """One user's token for the tests that only upload (a user costs a CLI run)."""
    (token,) = server.add_users(["refusals-uploader"]).values()
    return token


@pytest.fixture(scope="module")
def smuggler(server: ServerProcess) -> str:
    """Another uploader for the bomb, polyglot and file-name tests: one user alone would
    run past the per-user upload burst (30) within this module."""
    (token,) = server.add_users(["refusals-smuggler"]).values()
    return token


LIES = {
    "png-as-ogg": (media_files.photo(fmt="PNG"), "audio/ogg"),
    "ogg-as-png": (media_files.ogg_opus(), "image/png"),
    "mp3-as-jpeg": (media_files.mp3(), "image/jpeg"),
    "gif-as-webm": (media_files.animated_gif(), "video/webm"),
    "jpeg-as-text": (media_files.photo(), "text/plain"),
    "text-as-png": (b"just some words, honestly an image\n" * 20, "image/png"),
    "html-as-gif": (b"<html><script>alert(1)</script></html>", "image/gif"),
    "text-unlabelled": (b"no magic number here at all" * 10, None),
    "bmp-as-image": (media_files.photo(fmt="BMP"), "image/bmp"),
    "matroska-as-webm": (media_files.webm(doc_type=b"matroska"), "audio/webm"),
}


@pytest.mark.parametrize("name", sorted(LIES))
async def test_bytes_that_are_not_what_they_claim_are_refused(
    server: ServerProcess, uploader: str, name: str
) -> None:
    data, declared = LIES[name]
    before = stored_files(server)
    async with client(server, uploader) as http:
        response = await upload(http, data, declared)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_type"
    assert stored_files(server) == before
    assert temp_files(server) == []


def _cut(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


BROKEN = {
    "jpeg-truncated": (_cut(media_files.photo(400, 300, "JPEG")), "image/jpeg"),
    "png-truncated": (_cut(media_files.photo(400, 300, "PNG")), "image/png"),
    "webp-truncated": (_cut(media_files.photo(400, 300, "WEBP")), "image/webp"),
    "gif-truncated": (_cut(media_files.animated_gif()), "image/gif"),
    "png-header-only": (media_files.photo(fmt="PNG")[:40], "image/png"),
    "ogg-truncated": (media_files.ogg_opus(150)[:-50], "audio/ogg"),
    "mp3-truncated": (media_files.mp3(100)[:-100], "audio/mpeg"),
    "m4a-truncated": (media_files.m4a()[:-100], "audio/mp4"),
    "webm-truncated": (media_files.webm()[:-5], "audio/webm"),
    "m4a-with-video": (media_files.m4a(with_video=True), "audio/mp4"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
async def test_truncated_and_corrupt_files_are_refused_and_nothing_is_kept(
    server: ServerProcess, uploader: str, name: str
) -> None:
    data, declared = BROKEN[name]
    before = stored_files(server)
    async with client(server, uploader) as http:
        response = await upload(http, data, declared)
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_type"
    assert "corrupt or truncated" in error["message"] or "not a valid" in error["message"]
    assert stored_files(server) == before
    assert temp_files(server) == []


async def test_a_decompression_bomb_is_refused(
    server: ServerProcess, make_users: UserFactory
) -> None:
    (token,) = make_users("alice").values()
    bomb = media_files.png_bomb(30_000, 30_000)
    assert len(bomb) < 2000  # 900 megapixels declared in a couple of kilobytes
    async with client(server, token) as http:
        response = await upload(http, bomb, "image/png")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert "pixels" in response.json()["error"]["message"]
    assert temp_files(server) == []


BOMBS = {
    "jpeg-60000x60000": (media_files.jpeg_bomb(), "image/jpeg", "pixels"),
    "gif-screen-65535x65535": (media_files.gif_screen_bomb(), "image/gif", "pixels"),
    "webp-canvas-16383x16383": (media_files.webp_canvas_bomb(), "image/webp", "pixels"),
    "gif-600-frames": (media_files.gif_frame_bomb(), "image/gif", "over all frames"),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
async def test_bombs_of_every_image_format_are_refused_and_leave_nothing(
    server: ServerProcess, smuggler: str, name: str
) -> None:
    data, declared, reason = BOMBS[name]
    before = stored_files(server)
    async with client(server, smuggler) as http:
        response = await upload(http, data, declared)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "too_large"
    assert reason in response.json()["error"]["message"]
    assert stored_files(server) == before
    assert temp_files(server) == []


SCRIPT = b"<html><script>alert(document.cookie)</script></html>"


def _png_with_text(text: bytes, width: int) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text.decode())
    return media_files.photo(width, fmt="PNG", pnginfo=info)


# Each of its own size: identical pixels are stored once, and other tests count new files.
SMUGGLED = {
    "script-in-png-text": (_png_with_text(SCRIPT, width=41), "image/png"),
    "script-in-jpeg-comment": (media_files.photo(42, comment=SCRIPT), "image/jpeg"),
    "script-in-gif-comment": (media_files.photo(43, fmt="GIF", comment=SCRIPT), "image/gif"),
    "zip-after-jpeg": (media_files.photo(44) + b"PK\x03\x04" + SCRIPT, "image/jpeg"),
    "html-after-png": (media_files.photo(45, fmt="PNG") + SCRIPT, "image/png"),
}


@pytest.mark.parametrize("name", sorted(SMUGGLED))
async def test_what_is_smuggled_inside_an_image_is_never_served_back(
    server: ServerProcess, smuggler: str, name: str
) -> None:
    """A polyglot (an image that is also a page or an archive) is stored re-encoded: only
    its pixels come back, with a type that no browser second-guesses."""
    data, declared = SMUGGLED[name]
    async with client(server, smuggler) as http:
        media = await uploaded(http, data, declared)
        for path in (f"/v1/media/{media['id']}", f"/v1/media/{media['id']}/thumbnail"):
            response = await http.get(path)
            assert response.status_code == 200, path
            assert b"script" not in response.content and b"PK\x03\x04" not in response.content
            assert response.headers["content-type"].startswith("image/"), path
            assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_multipart_file_name_is_never_a_path(server: ServerProcess, smuggler: str) -> None:
    before = set(server.data_dir.rglob("*"))
    png = media_files.photo(fmt="PNG", width=31)  # bytes no other test stores
    async with client(server, smuggler) as http:
        for name in (
            "../../../escaped.png",
            "/tmp/escaped.png",
            "..\\..\\escaped.png",
            "a\x00.png",
        ):
            response = await http.post("/v1/media", files={"file": (name, png, "image/png")})
            assert response.status_code == 201, (name, response.text)
    created = set(server.data_dir.rglob("*")) - before
    media_root = media_dir(server)
    assert created, "nothing stored"
    assert all(path.is_relative_to(media_root) for path in created), created
    assert not any("escaped" in path.name for path in server.data_dir.parent.rglob("*"))
    assert not Path("/tmp/escaped.png").exists()
    assert temp_files(server) == []


async def test_ids_in_every_route_are_never_paths(
    server: ServerProcess, make_users: UserFactory
) -> None:
    """Conversation, group and user ids in a path: encoded slashes, dots, NUL, wildcards."""
    (token,) = make_users("alice").values()
    tricks = [
        "..%2F..%2Fmqchat.db",
        "..",
        "%2E%2E",
        "dm%3A..%3A..",
        "g%3A..%2F..",
        "%00",
        "+",
        "%23",
    ]
    async with client(server, token) as http:
        for trick in tricks:
            for method, path in [
                ("GET", f"/v1/users/{trick}"),
                ("GET", f"/v1/conversations/{trick}/messages"),
                ("GET", f"/v1/conversations/{trick}/messages/1/receipts"),
                ("PATCH", f"/v1/groups/{trick}"),
                ("POST", f"/v1/groups/{trick}/members"),
                ("DELETE", f"/v1/groups/{trick}/members/{trick}"),
                ("PUT", f"/v1/groups/{trick}/admins/{trick}"),
            ]:
                body = {"name": "x", "users": ["x"]} if method in ("PATCH", "POST") else None
                response = await http.request(method, path, json=body)
                # 404 for an id that names nothing; 405 where the trick ended the path early.
                assert response.status_code in (404, 405), (method, path, response.text)
                assert set(response.json()["error"]) >= {"code", "message"}, (method, path)


async def _chunks(total: int, head: bytes = b"\x89PNG\r\n\x1a\n") -> AsyncIterator[bytes]:
    """`total` bytes in 1 MiB chunks, produced as they are sent (never held whole)."""
    yield head
    sent = len(head)
    while sent < total:
        chunk = min(MiB, total - sent)
        yield bytes(chunk)
        sent += chunk


async def test_an_oversize_upload_is_refused_while_streaming_and_leaves_nothing(
    server: ServerProcess, make_users: UserFactory
) -> None:
    (token,) = make_users("alice").values()
    before = stored_files(server)
    async with client(server, token) as http:
        streamed = await upload(http, _chunks(DEFAULT_LIMIT + MiB), "image/png")  # chunked
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "too_large"
        with_length = await http.post(
            "/v1/media",
            content=bytes(DEFAULT_LIMIT + 1),
            headers={"Content-Type": "image/png"},
        )
        assert with_length.status_code == 413
        # The connection is still good for the next request. Storage is content-addressed:
        # a size no other test uploads, so that the photo's file is new.
        photo = media_files.photo(width=73, height=59)
        assert (await upload(http, photo, "image/jpeg")).status_code == 201
    assert temp_files(server) == []
    assert len(stored_files(server) - before) == 2  # the photo and its thumbnail only


async def test_exactly_the_limit_is_streamed_in_full_before_the_type_is_judged(
    server: ServerProcess, make_users: UserFactory
) -> None:
    (token,) = make_users("alice").values()
    async with client(server, token) as http:
        response = await upload(http, _chunks(DEFAULT_LIMIT), "image/png")
    # Not refused for its size: refused because a PNG signature and zeros are no image.
    assert response.status_code == 415, response.text
    assert temp_files(server) == []


async def test_empty_and_unauthenticated_uploads(
    server: ServerProcess, make_users: UserFactory
) -> None:
    (token,) = make_users("alice").values()
    async with client(server, token) as http:
        empty = await upload(http, b"", "image/png")
        assert empty.status_code == 400
        assert empty.json()["error"]["code"] == "invalid"
    async with httpx.AsyncClient(base_url=server.http_url) as anonymous:
        for headers in ({}, bearer("not-a-token")):
            response = await anonymous.post(
                "/v1/media", content=media_files.photo(), headers=headers
            )
            assert response.status_code == 401
    assert temp_files(server) == []


async def test_ids_are_never_paths(server: ServerProcess, make_users: UserFactory) -> None:
    (token,) = make_users("alice").values()
    async with client(server, token) as http:
        media = await uploaded(http, media_files.photo(), "image/jpeg")
        sha256 = media["sha256"]
        tricks = [
            "/v1/media/..%2F..%2Fmqchat.db",
            "/v1/media/..%2fmqchat.db",
            "/v1/media/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
            "/v1/media/%00",
            f"/v1/media/{media['id']}%00",
            f"/v1/media/{media['id']}%2F..",
            "/v1/media/tmp",
            f"/v1/media/{sha256}",  # a stored file's name is not an id
            f"/v1/media/{sha256}/thumbnail",
            f"/v1/media/{str(sha256)[:2]}%2F{str(sha256)[2:4]}%2F{sha256}",
            "/v1/media/" + "A" * 22,  # well-formed, unknown
            "/v1/media/" + "A" * 5000,
            "/v1/media/..",
            "/v1/media/...",
        ]
        for path in tricks:
            response = await http.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found", path


async def test_only_the_uploader_and_members_who_saw_it_may_read(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob", "carol")
    alice, bob, carol = tokens
    async with client(server, tokens[alice]) as http:
        media = await uploaded(http, media_files.photo(), "image/jpeg")
    url = f"/v1/media/{media['id']}"
    async with client(server, tokens[bob]) as http:
        before_sending = await http.get(url)
        unknown = await http.get("/v1/media/" + "Z" * 22)
    # Not shared yet looks exactly like not there: existence is not revealed.
    assert before_sending.status_code == unknown.status_code == 404
    assert before_sending.json()["error"]["code"] == unknown.json()["error"]["code"]
    async with connect(server.mqtt_port, alice, tokens[alice]) as sender:
        ack = await sender.send({"id": "i1", "to": bob, "kind": "image", "media": media["id"]})
        assert "error" not in ack, ack
    async with client(server, tokens[bob]) as http:
        assert (await http.get(url)).status_code == 200
        assert (await http.get(f"{url}/thumbnail")).status_code == 200
    async with client(server, tokens[carol]) as http:
        assert (await http.get(url)).status_code == 404
        assert (await http.get(f"{url}/thumbnail")).status_code == 404


async def test_media_of_another_user_or_kind_cannot_be_sent(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    async with client(server, tokens[alice]) as http:
        image = await uploaded(http, media_files.photo(), "image/jpeg")
    async with client(server, tokens[bob]) as http:
        voice = await uploaded(http, media_files.ogg_opus(), "audio/ogg")
    async with connect(server.mqtt_port, bob, tokens[bob]) as peer:
        refused = [
            await peer.send({"id": "s1", "to": alice, "kind": "image", "media": image["id"]}),
            await peer.send({"id": "s2", "to": alice, "kind": "image", "media": voice["id"]}),
            await peer.send({"id": "s3", "to": alice, "kind": "voice", "media": "A" * 22}),
        ]
        for ack in refused:
            assert ack["error"]["code"] == "media_not_found", ack
        accepted = await peer.send({"id": "s4", "to": alice, "kind": "voice", "media": voice["id"]})
        assert "error" not in accepted, accepted
    async with client(server, tokens[alice]) as http:
        # Bob's failed attempt did not share Alice's image with anyone new, and the voice
        # note he did send is now hers to hear.
        assert (await http.get(f"/v1/media/{voice['id']}")).status_code == 200


async def _until(condition: Callable[[], bool], what: str, deadline_s: float = 10.0) -> None:
    """Poll the data dir (the server announces nothing about its temp files)."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_an_upload_cut_off_by_the_client_leaves_nothing(
    server: ServerProcess, uploader: str
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    head = (
        "POST /v1/media HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {uploader}\r\n"
        f"Content-Type: audio/mpeg\r\nContent-Length: {4 * MiB}\r\n\r\n"
    )
    writer.write(head.encode() + media_files.mp3(200))
    await writer.drain()
    await _until(lambda: bool(temp_files(server)), "the upload to start")
    writer.close()
    await writer.wait_closed()
    del reader
    await _until(lambda: not temp_files(server), "the temp file to go")

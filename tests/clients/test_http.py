"""`ChatHttp` over a mock transport: requests as sent, answers and errors as translated."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from clients.errors import HttpError
from clients.files import CHUNK_BYTES
from clients.http import ChatHttp
from tests.support.server import free_port

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]

GROUP = {
    "conv": "g:Abcdefghijklmnop",
    "kind": "group",
    "name": "Climbing",
    "members": ["alice", "bob"],
    "admins": ["alice"],
    "last_seq": 1,
    "marks": {"last_seq": 1, "all_delivered": 0, "all_read": 0, "delivered": 1, "read": 1},
}
MEDIA = {"id": "Med1", "mime": "image/jpeg", "size": 3, "sha256": "x", "width": 4, "height": 3}


def api(handler: Handler) -> ChatHttp:
    return ChatHttp("http://mqchat.test", "tok", transport=httpx.MockTransport(handler))


async def test_group_calls_use_the_contracts_routes() -> None:
    seen: list[tuple[str, str, object]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))
        assert request.headers["authorization"] == "Bearer tok"
        return httpx.Response(201 if request.method == "POST" else 200, json=GROUP)

    async with api(handler) as http:
        created = await http.create_group("Climbing", ["bob"])
        await http.add_members(created.conv, ["carol"])
        await http.remove_member(created.conv, "carol")
        await http.set_admin(created.conv, "bob", True)
        await http.set_admin(created.conv, "bob", False)
        await http.rename_group(created.conv, "Crag")
    assert created.marks is not None and created.admins == ["alice"]
    conv = "/v1/groups/g:Abcdefghijklmnop"
    assert seen == [
        ("POST", "/v1/groups", {"name": "Climbing", "members": ["bob"]}),
        ("POST", f"{conv}/members", {"users": ["carol"]}),
        ("DELETE", f"{conv}/members/carol", None),
        ("PUT", f"{conv}/admins/bob", None),
        ("DELETE", f"{conv}/admins/bob", None),
        ("PATCH", conv, {"name": "Crag"}),
    ]


async def test_receipts_are_typed_rows() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/conversations/dm:alice:bob/messages/3/receipts"
        return httpx.Response(200, json=[{"user": "bob", "delivered_ts": 5, "read_ts": None}])

    async with api(handler) as http:
        [row] = await http.receipts("dm:alice:bob", 3)
    assert (row.user, row.delivered_ts, row.read_ts) == ("bob", 5, None)


async def test_errors_carry_status_code_and_unknown_users() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/groups":
            error = {"code": "unknown_user", "message": "no such users", "users": ["zed"]}
            return httpx.Response(404, json={"error": error})
        if request.url.path.endswith("/admins/bob"):
            return httpx.Response(403, json={"error": {"code": "forbidden", "message": "admins"}})
        return httpx.Response(502, text="<html>bad gateway</html>")

    async with api(handler) as http:
        with pytest.raises(HttpError) as unknown:
            await http.create_group("x", ["zed"])
        with pytest.raises(HttpError) as forbidden:
            await http.set_admin("g:Abcdefghijklmnop", "bob", True)
        with pytest.raises(HttpError) as gateway:
            await http.conversations()
    assert (unknown.value.status, unknown.value.code, unknown.value.users) == (
        404,
        "unknown_user",
        ["zed"],
    )
    assert (forbidden.value.status, forbidden.value.code, forbidden.value.users) == (
        403,
        "forbidden",
        [],
    )
    assert (gateway.value.status, gateway.value.code) == (502, "http_error")


async def test_a_path_segment_cannot_reach_another_route() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.raw_path == b"/v1/groups/g:x%2F..%2Fy/members/bob"
        return httpx.Response(200, json=GROUP)

    async with api(handler) as http:
        await http.remove_member("g:x/../y", "bob")


class ChunkCounter(httpx.AsyncBaseTransport):
    """Reads the request body as it comes (MockTransport would read it whole first)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.headers: httpx.Headers | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers = request.headers
        assert isinstance(request.stream, httpx.AsyncByteStream)
        async for chunk in request.stream:
            self.chunks.append(chunk)
        return httpx.Response(201, json=MEDIA)


async def test_an_upload_from_a_path_streams_with_its_length(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    content = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 10)  # over two chunks
    photo.write_bytes(content)
    counter = ChunkCounter()
    async with ChatHttp("http://mqchat.test", "tok", transport=counter) as http:
        media = await http.upload(photo)
    assert media.id == "Med1" and (media.width, media.height) == (4, 3)
    assert [len(chunk) for chunk in counter.chunks] == [CHUNK_BYTES, CHUNK_BYTES, 2560]
    assert b"".join(counter.chunks) == content
    assert counter.headers is not None
    assert counter.headers["content-type"] == "image/jpeg"
    # A declared length, not chunked: the server can refuse an oversized file up front.
    assert counter.headers["content-length"] == str(len(content))
    assert "transfer-encoding" not in counter.headers


async def test_an_upload_of_bytes_declares_its_type() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"] == "audio/ogg"
        assert request.content == b"OggS..."
        return httpx.Response(201, json=MEDIA)

    async with api(handler) as http:
        await http.upload(b"OggS...", "audio/ogg")
        with pytest.raises(HttpError, match="no-such-file"):
            await http.upload(Path("no-such-file.jpg"))


async def test_a_download_lands_whole_or_not_at_all(tmp_path: Path) -> None:
    content = b"\xff\xd8 picture bytes \xff\xd9"
    digest = hashlib.sha256(content).hexdigest()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/media/Good":
            return httpx.Response(200, content=content, headers={"ETag": f'"{digest}"'})
        if request.url.path == "/v1/media/Good/thumbnail":
            return httpx.Response(200, content=b"thumb", headers={"ETag": f'"{digest}-thumb"'})
        if request.url.path == "/v1/media/Corrupt":
            return httpx.Response(200, content=content[:-1], headers={"ETag": f'"{digest}"'})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})

    async with api(handler) as http:
        saved = await http.download("Good", tmp_path / "photo.jpg")
        thumb = await http.download("Good", tmp_path / "thumb.jpg", thumbnail=True)
        with pytest.raises(HttpError, match="SHA-256"):
            await http.download("Corrupt", tmp_path / "corrupt.jpg")
        with pytest.raises(HttpError) as missing:
            await http.download("Gone", tmp_path / "gone.jpg")
    assert saved.read_bytes() == content
    assert thumb.read_bytes() == b"thumb"
    assert missing.value.status == 404
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photo.jpg", "thumb.jpg"]


async def test_an_unreachable_server_is_an_http_error_without_status() -> None:
    async with ChatHttp(f"http://127.0.0.1:{free_port()}", "tok") as http:
        with pytest.raises(HttpError) as unreachable:
            await http.conversations()
    assert (unreachable.value.status, unreachable.value.code) == (None, "unreachable")

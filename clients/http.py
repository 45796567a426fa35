"""The HTTP half of the SDK: history, conversations, receipts, groups and media.

Transport and status errors are translated once, here, into `HttpError`. Uploads and
downloads stream: a file is never held whole in memory.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from backend import wire
from clients.errors import HttpError
from clients.files import OCTET_STREAM, PartFile, file_chunks, file_size, guess_media_type
from clients.models import Conversation, MemberReceipt

__all__ = ["ChatHttp", "Conversation", "MemberReceipt"]

DEFAULT_TIMEOUT_S = 30.0
# A full download's ETag is the file's SHA-256 in quotes (a thumbnail's has a suffix).
_SHA256_ETAG = re.compile(r'"([0-9a-f]{64})"')

ModelT = TypeVar("ModelT", bound=BaseModel)


class ChatHttp:
    """`async with ChatHttp(url, token) as api:` then `await api.history(conv)`.

    `transport` replaces the network (e.g. `httpx.MockTransport` in tests).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    # Conversations

    async def history(
        self, conv: str, *, before: int | None = None, limit: int = 50
    ) -> list[wire.Message]:
        """Messages of `conv` older than `before` (default: the newest), newest first."""
        params: dict[str, int] = {"limit": limit}
        if before is not None:
            params["before"] = before
        body = await self._call("GET", f"/v1/conversations/{_seg(conv)}/messages", params=params)
        return _parse_list(wire.Message, body)

    async def conversations(self) -> list[Conversation]:
        """Every conversation the user is in."""
        return _parse_list(Conversation, await self._call("GET", "/v1/conversations"))

    async def receipts(self, conv: str, seq: int) -> list[MemberReceipt]:
        """Who got and read message `seq` of `conv`, and when: every member but its sender."""
        path = f"/v1/conversations/{_seg(conv)}/messages/{int(seq)}/receipts"
        return _parse_list(MemberReceipt, await self._call("GET", path))

    # Groups

    async def create_group(self, name: str, members: list[str]) -> Conversation:
        """A new group of the caller (its first admin) and `members`."""
        body = {"name": name, "members": list(members)}
        return _parse(Conversation, await self._call("POST", "/v1/groups", json=body))

    async def rename_group(self, conv: str, name: str) -> Conversation:
        """Rename a group (admins only)."""
        body = await self._call("PATCH", f"/v1/groups/{_seg(conv)}", json={"name": name})
        return _parse(Conversation, body)

    async def add_members(self, conv: str, users: list[str]) -> Conversation:
        """Add members (admins only); those already in are left as they are."""
        path = f"/v1/groups/{_seg(conv)}/members"
        return _parse(Conversation, await self._call("POST", path, json={"users": list(users)}))

    async def remove_member(self, conv: str, user: str) -> Conversation:
        """Remove `user` (admins only), or leave when `user` is the caller."""
        path = f"/v1/groups/{_seg(conv)}/members/{_seg(user)}"
        return _parse(Conversation, await self._call("DELETE", path))

    async def set_admin(self, conv: str, user: str, admin: bool) -> Conversation:
        """Promote (`admin=True`) or demote `user` (admins only)."""
        path = f"/v1/groups/{_seg(conv)}/admins/{_seg(user)}"
        return _parse(Conversation, await self._call("PUT" if admin else "DELETE", path))

    # Media

    async def upload(
        self, source: Path | str | bytes, content_type: str | None = None
    ) -> wire.MediaInfo:
        """Upload a file (a path, streamed from disk) or bytes; returns the media object.

        `content_type` defaults to what the file name suggests; the server sniffs the
        bytes and needs the declared type only to agree on the kind (image or audio).
        """
        headers: dict[str, str] = {}
        if isinstance(source, bytes):
            headers["Content-Type"] = content_type or OCTET_STREAM
            content: bytes | Any = source
        else:
            path = Path(source)
            try:
                size = await file_size(path)
            except OSError as exc:
                raise HttpError(None, "unreadable", f"{path}: {exc.strerror or exc}") from exc
            # A declared length lets the server refuse an oversized file before it is sent.
            headers["Content-Length"] = str(size)
            headers["Content-Type"] = content_type or guess_media_type(path)
            content = file_chunks(path)
        body = await self._call("POST", "/v1/media", content=content, headers=headers)
        return _parse(wire.MediaInfo, body)

    async def download(self, media_id: str, dest: Path | str, *, thumbnail: bool = False) -> Path:
        """Save media `media_id` (or its thumbnail) as `dest`, streamed; returns `dest`.

        The file appears under `dest` only once complete; a full download is checked
        against the SHA-256 the server names in its ETag.
        """
        path = f"/v1/media/{_seg(media_id)}" + ("/thumbnail" if thumbnail else "")
        part = PartFile(Path(dest))
        try:
            async with self._client.stream("GET", path) as response:
                if response.is_error:
                    await response.aread()
                    raise _error(response)
                await part.open()
                async for chunk in response.aiter_bytes():
                    await part.write(chunk)
                expected = _SHA256_ETAG.fullmatch(response.headers.get("etag", ""))
            if expected is not None and expected.group(1) != part.sha256:
                raise HttpError(200, "bad_response", "the download does not match its SHA-256")
            await part.commit()
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        finally:
            await part.discard()
        return part.dest

    # Transport

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, int] | None = None,
        json: Any = None,
        content: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        try:
            response = await self._client.request(
                method, path, params=params, json=json, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.is_error:
            raise _error(response)
        try:
            return response.json()
        except ValueError as exc:
            raise HttpError(response.status_code, "bad_response", "the body is not JSON") from exc

    def _unreachable(self, exc: httpx.HTTPError) -> HttpError:
        return HttpError(None, "unreachable", f"{self._client.base_url}: {exc}")


def _seg(value: str) -> str:
    """One path segment: ids never hold `/`, but a typo must not reach another route."""
    return quote(value, safe=":")


def _error(response: httpx.Response) -> HttpError:
    """The contract's `{"error": {"code", "message"}}`, or a stand-in when the body is not it."""
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return HttpError(
            response.status_code, "http_error", response.reason_phrase or "request failed"
        )
    users = error.get("users")
    named = [str(user) for user in users] if isinstance(users, list) else None
    return HttpError(response.status_code, code, message, named)


def _parse(model: type[ModelT], body: Any) -> ModelT:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise HttpError(200, "bad_response", wire.describe_validation_error(exc)) from exc


def _parse_list(model: type[ModelT], body: Any) -> list[ModelT]:
    if not isinstance(body, list):
        raise HttpError(200, "bad_response", "expected a JSON array")
    return [_parse(model, item) for item in body]

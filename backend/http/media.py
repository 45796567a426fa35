"""The media routes: `POST /v1/media`, `GET /v1/media/<id>` and `.../thumbnail`.

Thin over `MediaService`: this module knows HTTP (bodies, ranges, conditional
requests, streaming from disk), the service knows media.
"""

# No `from __future__ import annotations` here: FastAPI must see the `Me` alias, local to
# `media_router`, as an object; as a string it cannot resolve it and takes `me` for a query
# parameter.
import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from backend.errors import InvalidRequest, NotFound, RateLimited, TooLarge
from backend.http import ranges
from backend.http.uploads import MULTIPART_OVERHEAD_BYTES, declared_length, drain, upload_body
from backend.limits import Limited, UserLimits
from backend.media.service import MediaService, StoredFile
from backend.media.sniff import ALL_TYPES
from backend.store.base import User

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 256 * 1024

CurrentUser = Callable[[Request], Awaitable[User]]


def _file_responses(mimes: list[str]) -> dict[int | str, dict[str, Any]]:
    """What the spec says of a file download: the bytes, whole or a range, or not modified."""
    content = dict.fromkeys(mimes, _BINARY)
    return {
        200: {"description": "the file", "content": content},
        206: {"description": "the range asked for", "content": content},
        304: {"description": "not modified (If-None-Match)"},
    }


_BINARY = {"schema": {"type": "string", "format": "binary"}}
# The body is read as a stream, so FastAPI cannot describe it: this does, for clients and
# for the schema-driven fuzz (tests/e2e/test_http_fuzz.py), which then sends files.
UPLOAD_BODY = {
    "required": True,
    "content": {
        **{media_type.mime: _BINARY for media_type in ALL_TYPES},
        "application/octet-stream": _BINARY,
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}
FILE_RESPONSES = _file_responses([media_type.mime for media_type in ALL_TYPES])
THUMB_RESPONSES = _file_responses(["image/jpeg"])


def media_router(
    media: MediaService, current_user: CurrentUser, limits: UserLimits | None = None
) -> APIRouter:
    """The media routes over `media`, authenticated by `current_user`; uploads take a token
    from the user's upload bucket in `limits` too."""
    limits = limits if limits is not None else UserLimits({})
    router = APIRouter()
    Me = Annotated[User, Depends(current_user)]

    @router.post("/v1/media", status_code=201, openapi_extra={"requestBody": UPLOAD_BODY})
    async def upload(me: Me, request: Request) -> dict[str, Any]:
        limit = media.limits.upload_bytes
        stream = request.stream()
        try:
            limits.check(Limited.UPLOAD, me.id)
            length = declared_length(request.headers.get("content-length"))
            if length is not None and length > limit + MULTIPART_OVERHEAD_BYTES:
                raise TooLarge(f"the upload is over the limit of {limit} bytes")
            body = upload_body(request.headers.get("content-type"), stream, limit)
            info = await media.upload(me.id, body)
        except (TooLarge, RateLimited):
            await drain(stream, limit)
            raise
        except ClientDisconnect:
            # Nobody is left to answer; say so quietly rather than as a server error.
            raise InvalidRequest("the client went away during the upload") from None
        return info.model_dump()

    # GET and HEAD as two routes: one route of two methods gives both the same operationId
    # in the OpenAPI spec (and picks it from a set, so it changes from run to run).
    @router.get("/v1/media/{media_id}", response_class=Response, responses=FILE_RESPONSES)
    @router.head("/v1/media/{media_id}", response_class=Response, responses=FILE_RESPONSES)
    async def download(me: Me, media_id: str, request: Request) -> Response:
        return await file_response(request, await media.locate(me.id, media_id))

    @router.get(
        "/v1/media/{media_id}/thumbnail", response_class=Response, responses=THUMB_RESPONSES
    )
    @router.head(
        "/v1/media/{media_id}/thumbnail", response_class=Response, responses=THUMB_RESPONSES
    )
    async def thumbnail(me: Me, media_id: str, request: Request) -> Response:
        return await file_response(request, await media.locate(me.id, media_id, thumbnail=True))

    return router


async def file_response(request: Request, stored: StoredFile) -> Response:
    """The file, or the range of it asked for, honouring If-None-Match and If-Range."""
    headers = {
        "ETag": stored.etag,
        "Cache-Control": "private",
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    if ranges.none_match(request.headers.get("if-none-match"), stored.etag):
        return Response(status_code=304, headers=headers)
    try:
        file = await asyncio.to_thread(stored.path.open, "rb")
    except FileNotFoundError:
        log.error("media file %s is missing", stored.path)
        raise NotFound("the media file is missing") from None
    size = os.fstat(file.fileno()).st_size
    byte_range = None
    if ranges.range_applies(request.headers.get("if-range"), stored.etag):
        try:
            byte_range = ranges.parse_range(request.headers.get("range"), size)
        except ranges.RangeNotSatisfiable as exc:
            file.close()
            return JSONResponse(
                {"error": {"code": "range_not_satisfiable", "message": str(exc)}},
                status_code=416,
                headers={**headers, "Content-Range": f"bytes */{size}"},
            )
    if byte_range is None:
        return FileSliceResponse(file, 0, size, 200, headers, stored.mime, request.method)
    headers["Content-Range"] = byte_range.content_range(size)
    return FileSliceResponse(
        file, byte_range.start, byte_range.length, 206, headers, stored.mime, request.method
    )


class FileSliceResponse(Response):
    """`length` bytes of an open file from `start`, read in a thread a chunk at a time."""

    def __init__(
        self,
        file: BinaryIO,
        start: int,
        length: int,
        status_code: int,
        headers: dict[str, str],
        media_type: str,
        method: str,
    ) -> None:
        super().__init__(
            status_code=status_code,
            headers={**headers, "Content-Length": str(length)},
            media_type=media_type,
        )
        self.file = file
        self.start = start
        self.length = length
        self.send_body = method != "HEAD"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if not self.send_body:
                await send({"type": "http.response.body", "body": b""})
                return
            await asyncio.to_thread(self.file.seek, self.start)
            remaining = self.length
            while remaining > 0:
                chunk = await asyncio.to_thread(self.file.read, min(READ_CHUNK_BYTES, remaining))
                if not chunk:  # stored files never shrink; stop rather than spin
                    break
                remaining -= len(chunk)
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": remaining > 0}
                )
            if remaining > 0:
                await send({"type": "http.response.body", "body": b""})
        finally:
            self.file.close()

"""Upload bodies as streams of file bytes: a raw body, or the `file` part of a multipart form.

Neither is ever held whole in memory or spooled anywhere but where the media storage
puts it: the multipart parser (python-multipart) is fed chunk by chunk and hands the
`file` part's bytes straight on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from backend.errors import InvalidRequest, TooLarge

# Room for the boundaries, part headers and small fields around the file in a form.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
FILE_FIELD = b"file"


class RawBody:
    """The body is the file; its `Content-Type` is the declared type."""

    def __init__(self, stream: AsyncIterator[bytes], content_type: str | None) -> None:
        self._stream = stream
        self.declared_type = content_type

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            if chunk:
                yield chunk


@dataclass(slots=True)
class _PartState:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    is_file: bool = False


class MultipartBody:
    """The part named `file` of a multipart/form-data body; other parts are skipped."""

    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes, max_body: int) -> None:
        self._stream = stream
        self._boundary = boundary
        self._max_body = max_body
        self.declared_type: str | None = None
        self._part = _PartState()
        self._files_seen = 0
        self._ended = False
        self._data: list[bytes] = []

    async def chunks(self) -> AsyncIterator[bytes]:
        parser = MultipartParser(
            self._boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_end": self._on_end,
            },
        )
        received = 0
        async for chunk in self._stream:
            received += len(chunk)
            if received > self._max_body:
                raise TooLarge(f"the upload is over the limit of {self._max_body} bytes")
            try:
                parser.write(chunk)  # the callbacks collect the file's bytes in _data
            except MultipartParseError as exc:
                raise InvalidRequest(f"malformed multipart body: {exc}") from None
            for data in self._data:
                yield data
            self._data.clear()
        if self._files_seen == 0:
            raise InvalidRequest("a multipart upload needs a part named 'file'")
        if not self._ended:
            raise InvalidRequest("the multipart body ends before its closing boundary")

    def _on_part_begin(self) -> None:
        self._part = _PartState()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._part.header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._part.header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = bytes(self._part.header_field).strip().lower()
        self._part.headers[name] = bytes(self._part.header_value).strip()
        self._part.header_field.clear()
        self._part.header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        if options.get(b"name") != FILE_FIELD:
            return
        self._files_seen += 1
        if self._files_seen > 1:
            raise InvalidRequest("a multipart upload carries one part named 'file'")
        self._part.is_file = True
        declared = self._part.headers.get(b"content-type")
        self.declared_type = declared.decode("latin-1") if declared else None

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part.is_file:
            self._data.append(data[start:end])

    def _on_end(self) -> None:
        self._ended = True


def upload_body(
    content_type: str | None, stream: AsyncIterator[bytes], limit: int
) -> RawBody | MultipartBody:
    """The upload in a request with this `Content-Type`: multipart, or the raw file."""
    media_type, options = parse_options_header(content_type or "")
    if media_type.lower() != b"multipart/form-data":
        return RawBody(stream, content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequest("a multipart body needs a boundary in its Content-Type")
    return MultipartBody(stream, boundary, limit + MULTIPART_OVERHEAD_BYTES)


def declared_length(content_length: str | None) -> int | None:
    """The `Content-Length` as a number, when there is a valid one."""
    if content_length is None or not content_length.strip().isdigit():
        return None
    return int(content_length.strip()[:20])


async def drain(stream: AsyncIterator[bytes], max_bytes: int) -> None:
    """Read and drop what is left of a refused body, up to `max_bytes`.

    Answering before the client has finished sending makes the connection close with
    data unread, which many clients see as a reset rather than as the 413; reading a
    bounded rest lets the answer arrive cleanly.
    """
    drained = 0
    with contextlib.suppress(ClientDisconnect):
        async for chunk in stream:
            drained += len(chunk)
            if drained > max_bytes:
                return

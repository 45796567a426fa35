"""The calls of `ChatClient` that go over HTTP: history, receipts, groups, media.

A base class of `ChatClient`, so that the client reads as one object
(`await client.create_group(...)`) while each file keeps to one concern. Every call
raises `HttpError` (with `status` and the contract's `code`) when the server says no.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from backend import wire
from clients.errors import ChatClientError
from clients.http import ChatHttp
from clients.models import Conversation, MemberReceipt, SentMedia
from clients.outbox import send_request


class HttpCalls:
    """The HTTP API as methods of the client; needs `http_url` when the client is made."""

    user: str
    _http: ChatHttp | None

    if TYPE_CHECKING:  # `ChatClient.send`, which the media sends use

        async def send(
            self,
            text: str | None = None,
            *,
            to: str | None = None,
            conv: str | None = None,
            kind: Literal["text", "image", "voice"] = "text",
            media: str | None = None,
            id: str | None = None,
        ) -> wire.Ack: ...

    # Conversations

    async def history(
        self, conv: str, before: int | None = None, limit: int = 50
    ) -> list[wire.Message]:
        """Messages of `conv` older than `before` (default: the newest), newest first."""
        return await self._api().history(conv, before=before, limit=limit)

    async def conversations(self) -> list[Conversation]:
        """The user's conversations, from the HTTP API."""
        return await self._api().conversations()

    async def receipts(self, conv: str, seq: int) -> list[MemberReceipt]:
        """When each member (the message's sender aside) got and read message `seq`."""
        return await self._api().receipts(conv, seq)

    # Groups

    async def create_group(self, name: str, members: list[str]) -> Conversation:
        """Create a group with this user (its first admin) and `members`."""
        return await self._api().create_group(name, members)

    async def add_members(self, conv: str, users: list[str]) -> Conversation:
        """Add `users` to a group (admins only)."""
        return await self._api().add_members(conv, users)

    async def remove_member(self, conv: str, user: str) -> Conversation:
        """Remove `user` from a group (admins only)."""
        return await self._api().remove_member(conv, user)

    async def leave_group(self, conv: str) -> Conversation:
        """Leave a group; it keeps its history, and this user sees it up to the leaving."""
        return await self._api().remove_member(conv, self.user)

    async def set_admin(self, conv: str, user: str, admin: bool) -> Conversation:
        """Promote `user` to admin (`admin=True`) or demote them (admins only)."""
        return await self._api().set_admin(conv, user, admin)

    async def rename_group(self, conv: str, name: str) -> Conversation:
        """Rename a group (admins only)."""
        return await self._api().rename_group(conv, name)

    # Media

    # `send_image` and `send_voice` upload over HTTP, then send over MQTT.

    async def upload(
        self, source: Path | str | bytes, content_type: str | None = None
    ) -> wire.MediaInfo:
        """Upload an image or voice note (a path, streamed from disk, or bytes).

        Returns the media object; send it with `send(kind=..., media=media.id)`, or use
        `send_image` / `send_voice`, which do both.
        """
        return await self._api().upload(source, content_type)

    async def download(self, media_id: str, dest: Path | str, thumbnail: bool = False) -> Path:
        """Save a media file (or its thumbnail, a JPEG) as `dest`, streamed; returns `dest`."""
        return await self._api().download(media_id, dest, thumbnail=thumbnail)

    async def send_image(
        self,
        source: Path | str | bytes,
        *,
        to: str | None = None,
        conv: str | None = None,
        caption: str | None = None,
        content_type: str | None = None,
        id: str | None = None,
    ) -> SentMedia:
        """Upload an image (a path, streamed from disk, or bytes) and send it, with an
        optional caption; raises `HttpError` if the upload fails, `SendError` if the send does."""
        return await self._send_media("image", source, to, conv, caption, content_type, id)

    async def send_voice(
        self,
        source: Path | str | bytes,
        *,
        to: str | None = None,
        conv: str | None = None,
        caption: str | None = None,
        content_type: str | None = None,
        id: str | None = None,
    ) -> SentMedia:
        """Upload a voice note (Ogg/Opus, m4a, MP3, WebM) and send it."""
        return await self._send_media("voice", source, to, conv, caption, content_type, id)

    async def _send_media(
        self,
        kind: Literal["image", "voice"],
        source: Path | str | bytes,
        to: str | None,
        conv: str | None,
        caption: str | None,
        content_type: str | None,
        request_id: str | None,
    ) -> SentMedia:
        # Check the target before uploading: a send that cannot be made wastes no upload.
        send_request(request_id or "check", caption, to=to, conv=conv, kind=kind, media="check")
        media = await self.upload(source, content_type)
        ack = await self.send(caption, to=to, conv=conv, kind=kind, media=media.id, id=request_id)
        return SentMedia(ack, media)

    def _api(self) -> ChatHttp:
        if self._http is None:
            raise ChatClientError("this client was created without http_url")
        return self._http

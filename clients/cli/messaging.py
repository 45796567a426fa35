"""`mqchat send`, `history`, `read` and `info`: one request each, then exit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Literal

import typer

from backend import wire
from clients.cli.common import (
    DEFAULT_HOST,
    DEFAULT_HTTP_URL,
    DEFAULT_MQTT_PORT,
    Host,
    HttpUrl,
    MqttPort,
    Token,
    UnusedHost,
    UnusedMqttPort,
    UnusedUser,
    User,
    credentials,
    fail,
    local_zone,
    need_token,
    run,
)
from clients.connection import new_request_id
from clients.http import ChatHttp
from clients.render import format_message
from clients.sdk import ChatClient
from clients.ticks import format_receipt_table

DEFAULT_SEND_TIMEOUT_S = 30.0
RECEIPT_RETRY_S = 0.2

Timeout = Annotated[float, typer.Option(help="Seconds to wait for the server.")]


def send(
    text: Annotated[
        str | None, typer.Argument(help="The message text (with --image/--voice: a caption).")
    ] = None,
    to: Annotated[str | None, typer.Option(help="A user: the 1:1 conversation with them.")] = None,
    conv: Annotated[str | None, typer.Option(help="A conversation id.")] = None,
    image: Annotated[Path | None, typer.Option(help="Send this image file.")] = None,
    voice: Annotated[Path | None, typer.Option(help="Send this voice note.")] = None,
    caption: Annotated[str | None, typer.Option(help="A caption for --image/--voice.")] = None,
    request_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="The request id; sending again with the same id never duplicates (a media "
            "file is uploaded again, but the message keeps its first upload).",
        ),
    ] = None,
    timeout: Timeout = DEFAULT_SEND_TIMEOUT_S,
    tag: Annotated[str, typer.Option(help="Client id tag (client id <user>:<tag>).")] = "cli-send",
    host: Host = DEFAULT_HOST,
    mqtt_port: MqttPort = DEFAULT_MQTT_PORT,
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    user: User = None,
    token: Token = None,
) -> None:
    """Send a message, image or voice note; print the conversation and seq it is stored under.

    A media send prints the media id too: `conv=dm:alice:bob seq=4 media=<id>`.
    """
    user, token = credentials(user, token)
    if (to is None) == (conv is None):
        fail("give exactly one of --to and --conv")
    kind, media_path, text = _what_to_send(text, image, voice, caption)
    request_id = request_id or new_request_id()

    async def run_send() -> tuple[wire.Ack, wire.MediaInfo | None]:
        # Send-only: it must not mark as delivered messages that no one has seen.
        async with ChatClient(
            host, mqtt_port, user, token, tag=tag, receive=False, http_url=http_url
        ) as client:
            try:
                async with asyncio.timeout(timeout):
                    if media_path is None:
                        return await client.send(text, to=to, conv=conv, id=request_id), None
                    send_media = client.send_image if kind == "image" else client.send_voice
                    sent = await send_media(
                        media_path, to=to, conv=conv, caption=text, id=request_id
                    )
                    return sent.ack, sent.media
            except TimeoutError:
                fail(
                    f"no ack within {timeout:g}s from {host}:{mqtt_port}; the message may still "
                    f"be stored: run again with --id {request_id} to retry without duplicating"
                )

    ack, media = run(run_send())
    print(f"conv={ack.conv} seq={ack.seq}" + (f" media={media.id}" if media else ""))


def _what_to_send(
    text: str | None, image: Path | None, voice: Path | None, caption: str | None
) -> tuple[Literal["text", "image", "voice"], Path | None, str | None]:
    """The kind, the media file and the text (or caption) of a `send`."""
    if image is not None and voice is not None:
        fail("give at most one of --image and --voice")
    media_path = image or voice
    if media_path is None:
        if caption is not None:
            fail("--caption goes with --image or --voice")
        if not text:
            fail("no text to send")
        return "text", None, text
    if text is not None and caption is not None:
        fail("give the caption once: as the text or with --caption")
    if not media_path.is_file():
        fail(f"{media_path}: no such file")
    return ("image" if image is not None else "voice"), media_path, caption or text


def history(
    conv: Annotated[str, typer.Argument(help="A conversation id.")],
    limit: Annotated[int, typer.Option(help="How many messages (at most 500).")] = 50,
    before: Annotated[int | None, typer.Option(help="Only messages before this seq.")] = None,
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
    _user: UnusedUser = None,
) -> None:
    """Print a conversation's latest messages (or those before --before), oldest first."""
    token = need_token(token)

    async def fetch() -> list[wire.Message]:
        async with ChatHttp(http_url, token) as api:
            return await api.history(conv, before=before, limit=limit)

    for message in reversed(run(fetch())):
        print(format_message(message))


def read(
    conv: Annotated[str, typer.Argument(help="A conversation id.")],
    timeout: Timeout = DEFAULT_SEND_TIMEOUT_S,
    tag: Annotated[str, typer.Option(help="Client id tag (client id <user>:<tag>).")] = "cli-read",
    host: Host = DEFAULT_HOST,
    mqtt_port: MqttPort = DEFAULT_MQTT_PORT,
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    user: User = None,
    token: Token = None,
) -> None:
    """Mark a conversation read up to its last message; the senders see it read."""
    user, token = credentials(user, token)

    async def mark() -> int:
        async with ChatClient(
            host, mqtt_port, user, token, tag=tag, receive=False, http_url=http_url
        ) as client:
            found = [c for c in await client.conversations() if c.conv == conv]
            if not found:
                fail(f"you are not in a conversation {conv!r}")
            last_seq = found[0].last_seq
            if last_seq == 0:
                return 0
            try:
                async with asyncio.timeout(timeout):
                    # A receipt the broker did not acknowledge stays owed: send it again.
                    while True:
                        await client.connected()
                        await client.mark_read(conv, last_seq)
                        if not client.state.core.pending_receipts():
                            return last_seq
                        await asyncio.sleep(RECEIPT_RETRY_S)
            except TimeoutError:
                fail(f"could not reach {host}:{mqtt_port} within {timeout:g}s")

    last_seq = run(mark())
    print(f"{conv} read up to #{last_seq}" if last_seq else f"{conv} has no messages")


def info(
    conv: Annotated[str, typer.Argument(help="A conversation id.")],
    seq: Annotated[int, typer.Argument(help="The message's seq.", min=1)],
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
    _user: UnusedUser = None,
) -> None:
    """Print who got and read a message, and when (local time; `-`: not yet)."""
    token = need_token(token)

    async def fetch() -> list[str]:
        async with ChatHttp(http_url, token) as api:
            return format_receipt_table(await api.receipts(conv, seq), local_zone())

    for line in run(fetch()):
        print(line)

"""Images and voice notes against a real server: upload, send, show, download."""

from __future__ import annotations

import asyncio
import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from backend import wire
from backend.ids import dm_conv
from clients.errors import HttpError
from clients.http import ChatHttp
from clients.render import format_size
from tests.clients.cli_support import assert_one_error_line, cli_env, listening, run_cli
from tests.clients.conftest import UserFactory
from tests.clients.support import WAIT_S, client, next_event
from tests.support.media_files import ogg_opus, ogg_opus_duration_ms, photo
from tests.support.server import ServerProcess


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_the_sdk_sends_and_fetches_media(
    server: ServerProcess, make_users: UserFactory, tmp_path: Path
) -> None:
    tokens = make_users("alice", "bob", "eve")
    alice_id, bob_id, eve_id = tokens
    picture = tmp_path / "crag.jpg"
    picture.write_bytes(photo(640, 480))
    async with (
        client(server, alice_id, tokens[alice_id]) as alice,
        client(server, bob_id, tokens[bob_id]) as bob,
        client(server, eve_id, tokens[eve_id]) as eve,
    ):
        async with asyncio.timeout(WAIT_S):
            sent = await alice.send_image(picture, to=bob_id, caption="the crag")
        assert (sent.media.mime, sent.media.width, sent.media.height) == ("image/jpeg", 640, 480)
        message = await next_event(bob, wire.Message, lambda m: m.seq == sent.ack.seq)
        assert (message.kind, message.text, message.media) == ("image", "the crag", sent.media)

        saved = await bob.download(sent.media.id, tmp_path / "got.jpg")
        assert sha256_of(saved) == sent.media.sha256
        with Image.open(saved) as image:
            assert image.size == (640, 480)
        thumb = await bob.download(sent.media.id, tmp_path / "thumb.jpg", thumbnail=True)
        with Image.open(thumb) as preview:
            assert preview.format == "JPEG" and max(preview.size) <= 320
        with pytest.raises(HttpError) as hidden:
            await eve.download(sent.media.id, tmp_path / "eve.jpg")
        assert hidden.value.status == 404
        assert not (tmp_path / "eve.jpg").exists()

        note = await alice.upload(ogg_opus(100), "audio/ogg")
        assert (note.mime, note.duration_ms) == ("audio/ogg", ogg_opus_duration_ms(100))
        voice_file = tmp_path / "note.ogg"
        voice_file.write_bytes(ogg_opus(150))
        async with asyncio.timeout(WAIT_S):
            voice = await alice.send_voice(voice_file, conv=sent.ack.conv)
        heard = await next_event(bob, wire.Message, lambda m: m.seq == voice.ack.seq)
        assert heard.kind == "voice" and heard.media is not None
        assert heard.media.duration_ms == ogg_opus_duration_ms(150)

        with pytest.raises(HttpError) as refused:
            await alice.send_image(b"just some text", to=bob_id)
        assert (refused.value.status, refused.value.code) == (415, "unsupported_type")
        assert alice.pending_sends() == []


async def test_send_listen_and_get_media_from_the_command_line(
    server: ServerProcess, make_users: UserFactory, tmp_path: Path
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    conv = dm_conv(alice_id, bob_id)
    alice_env = cli_env(server, alice_id, tokens[alice_id])
    bob_env = cli_env(server, bob_id, tokens[bob_id])
    picture = tmp_path / "photo.jpg"
    picture.write_bytes(photo(64, 48))
    note = tmp_path / "note.ogg"
    note.write_bytes(ogg_opus(150))

    async with listening(server, bob_id, tokens[bob_id]) as listener:
        sent = await run_cli(
            "send", "--to", bob_id, "--image", str(picture), "--caption", "at the crag",
            env=alice_env,
        )  # fmt: skip
        [line] = sent.lines()
        assert line.startswith(f"conv={conv} seq=1 media=")
        media_id = line.rsplit("=", 1)[1]
        [stored] = await media_of(server, tokens[bob_id], conv)
        assert stored.id == media_id
        assert await listener.line() == (
            f"[{conv} #1] {alice_id}: [image 64x48, {format_size(stored.size)}, id {media_id}]"
            " at the crag"
        )

        voiced = await run_cli("send", "--to", bob_id, "--voice", str(note), env=alice_env)
        assert voiced.lines()[0].startswith(f"conv={conv} seq=2 media=")
        assert (await listener.line()).startswith(f"[{conv} #2] {alice_id}: [voice 0:03, ")
        assert (await listener.stop()).code == 0

    got = await run_cli("media", "get", media_id, "-o", str(tmp_path / "got.jpg"), env=bob_env)
    assert got.lines() == [f"saved {tmp_path / 'got.jpg'} ({format_size(stored.size)})"]
    assert sha256_of(tmp_path / "got.jpg") == stored.sha256
    thumb = tmp_path / "thumb.jpg"
    assert (
        await run_cli("media", "get", media_id, "--thumbnail", "-o", str(thumb), env=bob_env)
    ).code == 0
    assert Image.open(io.BytesIO(thumb.read_bytes())).format == "JPEG"

    missing = await run_cli(
        "send", "--to", bob_id, "--image", str(tmp_path / "nope.jpg"), env=alice_env
    )
    assert_one_error_line(missing, "nope.jpg")
    not_found = await run_cli("media", "get", "NoSuchMedia", "-o", str(tmp_path / "x"), env=bob_env)
    assert_one_error_line(not_found, "404")


async def media_of(server: ServerProcess, token: str, conv: str) -> list[wire.MediaInfo]:
    """The media of a conversation's messages, oldest first."""
    async with ChatHttp(server.http_url, token) as http:
        return [m.media for m in reversed(await http.history(conv)) if m.media is not None]

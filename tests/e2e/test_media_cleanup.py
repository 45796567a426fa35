"""A server with short media settings: unused uploads expire, per-kind limits apply."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import media_files
from tests.support.media_http import client, stored_path, temp_files, upload, uploaded
from tests.support.mqtt import connect
from tests.support.server import ServerProcess

UNUSED_TTL_S = 3.0
VOICE_LIMIT = 8192
DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("short-lived")
    config = root / "mqchat.toml"
    config.write_text(
        f"unused_media_ttl_s = {UNUSED_TTL_S}\n"
        "media_cleanup_interval_s = 0.2\n"
        f"max_voice_bytes = {VOICE_LIMIT}\n"
    )
    process = ServerProcess(root / "data", extra_args=["--config", str(config)])
    process.start()
    yield process
    assert process.stop() == 0, process.log()


def thumbnail_path(server: ServerProcess, sha256: str) -> Path:
    path = stored_path(server, sha256)
    return path.with_name(path.name + ".thumb")


async def test_unused_uploads_expire_and_used_ones_stay(short_lived: ServerProcess) -> None:
    tokens = short_lived.add_users(["alice", "bob"])
    async with client(short_lived, tokens["alice"]) as http:
        unused = await uploaded(http, media_files.photo(70, 50, "PNG"), "image/png")
        used = await uploaded(http, media_files.photo(90, 30, "JPEG"), "image/jpeg")
        # Two uploads of the same bytes: one sent, one not. The file is shared.
        shared_sent = await uploaded(http, media_files.ogg_opus(20), "audio/ogg")
        shared_unused = await uploaded(http, media_files.ogg_opus(20), "audio/ogg")
    async with connect(short_lived.mqtt_port, "alice", tokens["alice"]) as alice:
        for client_id, media, kind in (("c1", used, "image"), ("c2", shared_sent, "voice")):
            request = {"id": client_id, "to": "bob", "kind": kind, "media": media["id"]}
            ack = await alice.send(request)
            assert "error" not in ack, ack

    expired = {str(unused["id"]), str(shared_unused["id"])}
    async with client(short_lived, tokens["alice"]) as http:
        deadline = time.monotonic() + DEADLINE_S
        while True:  # no event to await from outside the server: poll its API
            statuses = {mid: (await http.get(f"/v1/media/{mid}")).status_code for mid in expired}
            if set(statuses.values()) == {404}:
                break
            assert time.monotonic() < deadline, f"not removed in time: {statuses}"
            await asyncio.sleep(0.1)
        for media in (used, shared_sent):
            assert (await http.get(f"/v1/media/{media['id']}")).status_code == 200

    assert not stored_path(short_lived, str(unused["sha256"])).exists()
    assert not thumbnail_path(short_lived, str(unused["sha256"])).exists()
    assert stored_path(short_lived, str(used["sha256"])).exists()
    assert thumbnail_path(short_lived, str(used["sha256"])).exists()
    # The unsent twin's row is gone; the bytes stay for the one a message carries.
    assert stored_path(short_lived, str(shared_sent["sha256"])).exists()
    async with client(short_lived, tokens["bob"]) as http:
        for media in (used, shared_sent):
            assert (await http.get(f"/v1/media/{media['id']}")).status_code == 200

    async with connect(short_lived.mqtt_port, "alice", tokens["alice"]) as alice:
        late = {"id": "c3", "to": "bob", "kind": "image", "media": unused["id"]}
        assert (await alice.send(late))["error"]["code"] == "media_not_found"


async def test_the_per_kind_limit_applies_once_the_kind_is_known(
    short_lived: ServerProcess,
) -> None:
    tokens = short_lived.add_users(["carol"])
    voice = media_files.mp3(40)
    image = media_files.noise(200, 200, "PNG")
    assert len(voice) > VOICE_LIMIT and len(image) > VOICE_LIMIT
    async with client(short_lived, tokens["carol"]) as http:
        too_long = await upload(http, voice, "audio/mpeg")
        assert too_long.status_code == 413
        assert too_long.json()["error"]["code"] == "too_large"
        assert str(VOICE_LIMIT) in too_long.json()["error"]["message"]
        assert (await upload(http, media_files.mp3(15), "audio/mpeg")).status_code == 201
        assert (await upload(http, image, "image/png")).status_code == 201
    assert temp_files(short_lived) == []

"""The disk fills up: sends are refused with `unavailable`, nothing acked is lost, the
server stays up (reads and sync still work), and it stores again once space returns.

Decision: a send the server cannot store for lack of space (or a failing disk) gets
the error ack `{"code": "unavailable"}` (HTTP 503), an extension of the contract's
codes (docs/protocol.md): it is a "not now", so the SDK keeps the request in its outbox
and retries it with the same id, as for a send that got no answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.topics import ClientTopic, InboxTopic
from tests.support.disk import fill, free_bytes, small_tmpfs
from tests.support.media_files import noise
from tests.support.mqtt import ChatPeer, connect
from tests.support.server import ServerProcess

DISK_BYTES = 16 * 1024 * 1024
TEXT = "x" * 16_000  # big messages fill the write-ahead log quickly
BEFORE = 20
MAX_SENDS_UNTIL_FULL = 600  # 9.6 MB: more than any slack the database files can hold
STILL_REFUSED = 5


@pytest.fixture
def server_on_small_disk(tmp_path: Path) -> Iterator[ServerProcess]:
    config = tmp_path / "mqchat.toml"
    config.write_text("rate_limits = false\n")  # hundreds of sends in a few seconds
    with small_tmpfs(tmp_path / "disk", DISK_BYTES) as disk:
        # The data dir is the small disk, through a link: the server's log goes next to
        # the link (tests.support.server), on the real disk, where it can be read.
        (tmp_path / "data").symlink_to(disk)
        server = ServerProcess(tmp_path / "data", extra_args=["--config", str(config)])
        server.start()
        try:
            yield server
        finally:
            server.kill()


async def send(peer: ChatPeer, msg_id: str, to: str) -> dict[str, Any]:
    """One send and its answer (ack or error ack), which must name it."""
    answer = await peer.send({"id": msg_id, "to": to, "text": f"{msg_id} {TEXT}"})
    assert answer["id"] == msg_id, answer
    return answer


@pytest.mark.slow
async def test_a_full_disk_refuses_sends_loses_nothing_and_recovers(
    server_on_small_disk: ServerProcess,
) -> None:
    server = server_on_small_disk
    tokens = server.add_users(["alice", "bob"])
    data_dir = server.data_dir
    acked: dict[str, int] = {}
    async with (
        connect(server.mqtt_port, "alice", tokens["alice"]) as alice,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as http,
    ):
        for index in range(BEFORE):
            acked[f"a{index}"] = (await send(alice, f"a{index}", "bob"))["seq"]

        filled = await asyncio.to_thread(fill, data_dir / "filler")
        assert free_bytes(data_dir) < 64 * 1024
        refused: list[str] = []
        for index in range(MAX_SENDS_UNTIL_FULL):
            answer = await send(alice, f"b{index}", "bob")
            if "error" in answer:
                assert answer["error"]["code"] == "unavailable", answer
                refused.append(answer["id"])
                break
            acked[answer["id"]] = answer["seq"]  # the log still had room
        assert refused, f"{MAX_SENDS_UNTIL_FULL} sends on a full disk were all stored"
        full_since = time.monotonic()
        for index in range(STILL_REFUSED):
            answer = await send(alice, f"c{index}", "bob")
            assert answer["error"]["code"] == "unavailable", answer
            refused.append(answer["id"])
        # The server is up: the process, HTTP, and reads, which need no space.
        assert server.process is not None and server.process.poll() is None
        assert (await http.get("/healthz")).status_code == 200
        alice_http = {"Authorization": f"Bearer {tokens['alice']}"}
        upload = await http.post(
            "/v1/media", content=noise(64, 64), headers={**alice_http, "Content-Type": "image/png"}
        )
        assert upload.status_code == 503, upload.text
        assert upload.json()["error"]["code"] == "unavailable"
        profile = await http.patch("/v1/me", json={"about": "full"}, headers=alice_http)
        assert profile.status_code == 503, profile.text
        # Presence cannot be recorded, but is still shown: bob comes and goes.
        await alice.client.subscribe("presence/bob", qos=1)
        await _sync_sees(server, tokens["bob"], acked)
        await _presence_shown(alice, "bob", "online")
        await _presence_shown(alice, "bob", "offline")

        (data_dir / "filler").unlink()
        # The refused requests retried with the same ids, as the SDK does: stored now.
        for msg_id in refused:
            answer = await send(alice, msg_id, "bob")
            assert "seq" in answer, answer
            acked[msg_id] = answer["seq"]
        recovered_s = time.monotonic() - full_since
        for index in range(3):
            acked[f"d{index}"] = (await send(alice, f"d{index}", "bob"))["seq"]
        # An old id still gets its old ack: nothing was stored twice.
        assert (await send(alice, "a3", "bob"))["seq"] == acked["a3"]
        upload = await http.post(
            "/v1/media", content=noise(64, 64), headers={**alice_http, "Content-Type": "image/png"}
        )
        assert upload.status_code == 201, upload.text

    print(
        f"disk full after {filled} filler bytes and {len(acked) - BEFORE - 3 - len(refused)} "
        f"more sends; {len(refused)} refused; stored again {recovered_s:.2f}s after the first "
        "refusal (most of it the test's own checks)"
    )
    assert sorted(acked.values()) == list(range(1, len(acked) + 1))
    await _sync_sees(server, tokens["bob"], acked)
    assert server.stop() == 0, server.log()


async def _sync_sees(server: ServerProcess, token: str, acked: dict[str, int]) -> None:
    """bob syncs from scratch (since 0) and gets exactly the acked messages, in order."""
    async with connect(server.mqtt_port, "bob", token) as bob:
        await bob.publish(ClientTopic.SYNC, {"id": "s", "since": {"dm:alice:bob": 0}})
        messages = [await bob.expect(InboxTopic.MSG) for _ in range(len(acked))]
        end = await bob.expect(InboxTopic.SYNC)
    assert end["more"] is False and end["convs"]["dm:alice:bob"]["last_seq"] == len(acked)
    assert [m["seq"] for m in messages] == sorted(acked.values())
    by_seq = {m["seq"]: m["text"].split(" ")[0] for m in messages}
    assert {by_seq[seq]: seq for seq in acked.values()} == acked


async def _presence_shown(peer: ChatPeer, user: str, state: str) -> None:
    """Wait for `presence/<user>` to show `state` (earlier states are skipped)."""
    async with asyncio.timeout(5):
        while True:
            topic, payload, _ = await peer.other.get()
            if topic == f"presence/{user}" and json.loads(payload)["state"] == state:
                return

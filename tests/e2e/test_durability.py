"""Acknowledged means stored: kill -9 the whole server, restart, and nothing is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.topics import ClientTopic, InboxTopic
from tests.support.mqtt import connect
from tests.support.server import ServerProcess


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data")
    process.start()
    yield process
    process.kill()


@pytest.mark.slow
async def test_acked_messages_survive_sigkill_and_reach_the_recipient_by_sync(
    own_server: ServerProcess,
) -> None:
    tokens = own_server.add_users(["alice", "bob"])
    acked: dict[str, int] = {}
    async with connect(own_server.mqtt_port, "alice", tokens["alice"]) as alice:
        # 20 acked + 30 in flight: within the default send burst of 50, so none is refused.
        for index in range(20):
            await alice.publish(
                ClientTopic.SEND, {"id": f"m{index}", "to": "bob", "text": f"n{index}"}
            )
        for _ in range(20):
            ack = await alice.expect(InboxTopic.ACK)
            acked[ack["id"]] = ack["seq"]
        # More sends in flight at the moment of the kill: acked or not, none may be lost once acked.
        for index in range(20, 50):
            await alice.publish(
                ClientTopic.SEND, {"id": f"m{index}", "to": "bob", "text": f"n{index}"}
            )
        own_server.kill()
    assert sorted(acked.values()) == list(range(1, 21))

    own_server.start()  # same ports and data dir
    async with connect(own_server.mqtt_port, "alice", tokens["alice"]) as alice:
        # The client retries what it has no ack for; the server answers each id once.
        for index in range(20, 50):
            await alice.publish(
                ClientTopic.SEND, {"id": f"m{index}", "to": "bob", "text": f"n{index}"}
            )
        for _ in range(30):
            ack = await alice.expect(InboxTopic.ACK)
            acked[ack["id"]] = ack["seq"]
        # Retrying an old id after the restart gets the very same ack.
        again = await alice.send({"id": "m7", "to": "bob", "text": "n7"})
        assert again["seq"] == acked["m7"]
    assert sorted(acked.values()) == list(range(1, 51))

    async with connect(own_server.mqtt_port, "bob", tokens["bob"]) as bob:
        await bob.publish(ClientTopic.SYNC, {"id": "s"})
        messages = [await bob.expect(InboxTopic.MSG) for _ in range(50)]
        end = await bob.expect(InboxTopic.SYNC)
    assert [m["seq"] for m in messages] == list(range(1, 51))
    seq_of = {m["seq"]: m["text"] for m in messages}
    assert all(seq_of[seq] == f"n{int(msg_id[1:])}" for msg_id, seq in acked.items())
    assert end["more"] is False


@pytest.mark.slow
async def test_sigterm_shuts_down_cleanly(own_server: ServerProcess) -> None:
    assert own_server.stop() == 0

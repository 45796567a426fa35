"""Who may connect, publish and subscribe: every refusal of the contract, end to end."""

from __future__ import annotations

import aiomqtt
import pytest

from backend.topics import ClientTopic, InboxTopic
from tests.e2e.conftest import UserFactory
from tests.support.mqtt import HOST, connect
from tests.support.server import ServerProcess, mqchat

REFUSED = 0x80


async def connack_refused(port: int, **options: object) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            HOST, port, protocol=aiomqtt.ProtocolVersion.V311, timeout=10, **options
        ):  # type: ignore[arg-type]
            pass


async def test_wrong_token_foreign_client_id_and_anonymous_are_refused(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    await connack_refused(server.mqtt_port, username=alice, password="wrong", identifier=alice)
    await connack_refused(server.mqtt_port, username=alice, password=tokens[bob], identifier=alice)
    await connack_refused(server.mqtt_port, username=alice, password=tokens[alice], identifier=bob)
    await connack_refused(
        server.mqtt_port, username=alice, password=tokens[alice], identifier=f"{bob}:phone"
    )
    await connack_refused(
        server.mqtt_port, username=alice, password=tokens[alice], identifier=f"{alice}:bad tag"
    )
    await connack_refused(server.mqtt_port, identifier=alice)
    await connack_refused(server.mqtt_port, username="nobody", password="x", identifier="nobody")
    # The right credentials with a tagged client id work.
    async with connect(server.mqtt_port, alice, tokens[alice], client_id=f"{alice}:laptop"):
        pass


async def test_subscriptions_outside_the_users_own_topics_are_refused(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    async with connect(server.mqtt_port, alice, tokens[alice], subscribe=False) as a:
        for refused in [
            f"chat/u/{bob}/in/#",
            f"chat/u/{bob}/in/msg",
            "chat/u/+/in/#",
            "#",
            "chat/#",
            "presence/+",
            "presence/#",
            f"presence/{bob}",  # no shared conversation yet
            f"chat/u/{alice}/send",
            "$SYS/#",
        ]:
            granted = await a.client.subscribe(refused, qos=1)
            assert list(granted) == [REFUSED], refused
        for allowed in [f"chat/u/{alice}/in/#", f"chat/u/{alice}/in/msg", f"presence/{alice}"]:
            granted = await a.client.subscribe(allowed, qos=1)
            assert list(granted) == [1], allowed


async def test_forged_publications_are_dropped(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob", "carol")
    alice, bob, carol = tokens
    async with (
        connect(server.mqtt_port, alice, tokens[alice]) as a,
        connect(server.mqtt_port, bob, tokens[bob]) as b,
    ):
        # Alice writes into Bob's inbox, sends as Bob, and forges presence: all dropped.
        await a.client.publish(f"chat/u/{bob}/in/msg", b'{"conv": "x", "seq": 1}', qos=1)
        await a.client.publish(
            f"chat/u/{bob}/send",
            f'{{"id": "f", "to": "{carol}", "text": "forged"}}'.encode(),
            qos=1,
        )
        await a.client.publish(f"presence/{bob}", b'{"state": "online"}', qos=1)
        # A marker proves the pipeline ran past the forgeries.
        ack = await a.send({"id": "marker", "to": bob, "text": "real"})
        message = await b.expect(InboxTopic.MSG)
        assert message["text"] == "real"
        await b.expect_none(InboxTopic.MSG, within=0.5)
        await b.expect_none(InboxTopic.ACK, within=0.1)
    assert ack["seq"] == 1
    async with connect(server.mqtt_port, carol, tokens[carol]) as c:
        await c.publish(ClientTopic.SYNC, {"id": "s"})
        end = await c.expect(InboxTopic.SYNC)
    assert end["convs"] == {}  # the forged send created nothing


async def test_a_user_added_while_the_server_runs_connects_at_once(server: ServerProcess) -> None:
    token = server.add_user("late-comer")
    async with connect(server.mqtt_port, "late-comer", token) as peer:
        await peer.publish(ClientTopic.SYNC, {"id": "s"})
        assert (await peer.expect(InboxTopic.SYNC))["more"] is False


async def test_a_new_token_revokes_the_old_one(server: ServerProcess) -> None:
    old = server.add_user("rotator")
    result = mqchat("user", "token", "rotator", data_dir=server.data_dir)
    assert result.returncode == 0, result.stderr
    new = result.stdout.strip()
    assert new != old
    assert len(new) >= 43  # 256 bits, URL-safe base64
    await connack_refused(server.mqtt_port, username="rotator", password=old, identifier="rotator")
    async with connect(server.mqtt_port, "rotator", new):
        pass

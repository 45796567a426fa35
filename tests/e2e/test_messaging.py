"""1:1 messaging end to end: a real server, real MQTT clients."""

from __future__ import annotations

import time

import httpx

from backend.ids import dm_conv
from backend.settings import Settings
from backend.topics import ClientTopic, InboxTopic
from tests.e2e.conftest import UserFactory
from tests.support.mqtt import connect
from tests.support.server import ServerProcess

SEND_BURST = Settings.model_fields["send_burst"].default


async def test_a_message_reaches_an_online_recipient_after_a_durable_ack(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    async with (
        connect(server.mqtt_port, alice, tokens[alice]) as a,
        connect(server.mqtt_port, bob, tokens[bob]) as b,
    ):
        started = time.monotonic()
        ack = await a.send({"id": "m1", "to": bob, "text": "hello bob"})
        message = await b.expect(InboxTopic.MSG)
        elapsed = time.monotonic() - started
    conv = dm_conv(alice, bob)
    assert ack == {"id": "m1", "conv": conv, "seq": 1, "ts": ack["ts"]}
    assert abs(ack["ts"] - time.time() * 1000) < 60_000
    assert message == {
        "conv": conv,
        "seq": 1,
        "from": alice,
        "ts": ack["ts"],
        "kind": "text",
        "text": "hello bob",
    }
    assert elapsed < 5  # generous: this is a liveness check, `make bench` measures latency


async def test_a_retry_with_the_same_id_creates_no_second_message(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    async with connect(server.mqtt_port, alice, tokens[alice]) as a:
        first = await a.send({"id": "same", "to": bob, "text": "once"})
        again = await a.send({"id": "same", "to": bob, "text": "once"})
        later = await a.send({"id": "other", "to": bob, "text": "twice"})
    assert again == first
    assert later["seq"] == first["seq"] + 1
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.get(
            f"/v1/conversations/{first['conv']}/messages",
            headers={"Authorization": f"Bearer {tokens[bob]}"},
        )
    assert [m["seq"] for m in response.json()] == [2, 1]


async def test_sync_pages_with_limit_and_more(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    async with connect(server.mqtt_port, alice, tokens[alice]) as a:
        for index in range(7):
            await a.send({"id": f"m{index}", "to": bob, "text": f"n{index}"})
    conv = dm_conv(alice, bob)
    async with connect(server.mqtt_port, bob, tokens[bob]) as b:
        await b.publish(ClientTopic.SYNC, {"id": "s1", "limit": 3})
        first = [await b.expect(InboxTopic.MSG) for _ in range(3)]
        end = await b.expect(InboxTopic.SYNC)
        assert [m["seq"] for m in first] == [1, 2, 3]
        assert end == {
            "id": "s1",
            "more": True,
            "convs": {
                conv: {
                    "last_seq": 7,
                    "all_delivered": 0,
                    "all_read": 0,
                    "delivered": 0,
                    "read": 0,
                    "confirmed": 0,
                }
            },
        }
        await b.publish(ClientTopic.RECEIPT, {"conv": conv, "delivered": 3})
        await b.publish(ClientTopic.SYNC, {"id": "s2", "limit": 500})
        rest = [await b.expect(InboxTopic.MSG) for _ in range(4)]
        end = await b.expect(InboxTopic.SYNC)
    assert [m["seq"] for m in rest] == [4, 5, 6, 7]
    assert end["more"] is False
    assert end["convs"][conv]["delivered"] == 3


async def test_bad_requests_get_the_contract_error_and_change_nothing(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    cases: list[tuple[bytes, str, str | None]] = [
        (b"{not json", "invalid", None),
        (b"\xff\xfe\x00", "invalid", None),
        (b'["an", "array"]', "invalid", None),
        (b'{"id": "x1", "text": "no recipient"}', "invalid", "x1"),
        (b'{"id": "x2", "to": "' + bob.encode() + b'", "text": 42}', "invalid", "x2"),
        (
            b'{"id": "x3", "to": "' + bob.encode() + b'", "text": "' + b"a" * 70_000 + b'"}',
            "too_large",
            "x3",
        ),
        (b'{"id": "x4", "to": "nobody-here", "text": "hi"}', "unknown_user", "x4"),
        (
            b'{"id": "x5", "conv": "g:AAAAAAAAAAAAAAAAAAAAAA", "text": "hi"}',
            "unknown_conversation",
            "x5",
        ),
        (b'{"id": "x6", "to": "' + alice.encode() + b'", "text": "me"}', "invalid", "x6"),
        (
            b'{"id": "x7", "to": "' + bob.encode() + b'", "kind": "image", "media": "nope"}',
            "media_not_found",
            "x7",
        ),
    ]
    async with connect(server.mqtt_port, alice, tokens[alice]) as a:
        for payload, code, request_id in cases:
            await a.publish(ClientTopic.SEND, payload)
            ack = await a.expect(InboxTopic.ACK)
            assert ack["error"]["code"] == code, (payload[:60], ack)
            assert ack["error"]["message"]
            assert ack["id"] == request_id
        await a.publish(ClientTopic.RECEIPT, b'{"conv": 5}')
        notice = await a.expect(InboxTopic.ERROR)
        assert notice["error"]["code"] == "invalid"
        assert notice["topic"] == f"chat/u/{alice}/receipt"
        # Nothing was created, and the server still serves.
        ok = await a.send({"id": "fine", "to": bob, "text": "still here"})
    assert ok["seq"] == 1


async def test_receipts_for_conversations_outside_the_user_are_refused(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob", "mallory")
    alice, bob, mallory = tokens
    async with connect(server.mqtt_port, alice, tokens[alice]) as a:
        ack = await a.send({"id": "m", "to": bob, "text": "private"})
    async with connect(server.mqtt_port, mallory, tokens[mallory]) as m:
        await m.publish(ClientTopic.RECEIPT, {"conv": ack["conv"], "read": 1})
        notice = await m.expect(InboxTopic.ERROR)
        await m.publish(ClientTopic.SYNC, {"id": "s"})
        end = await m.expect(InboxTopic.SYNC)
    assert notice["error"]["code"] == "not_member"
    assert end["convs"] == {}


async def test_typing_reaches_the_other_member_at_qos0(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    async with (
        connect(server.mqtt_port, alice, tokens[alice]) as a,
        connect(server.mqtt_port, bob, tokens[bob]) as b,
    ):
        ack = await a.send({"id": "m", "to": bob, "text": "hi"})
        await a.publish(ClientTopic.TYPING, {"conv": ack["conv"], "state": "typing"}, qos=0)
        typing = await b.expect(InboxTopic.TYPING)
    assert (typing["conv"], typing["from"], typing["state"]) == (ack["conv"], alice, "typing")


async def test_many_concurrent_senders_get_gapless_seqs(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    async with (
        connect(server.mqtt_port, alice, tokens[alice]) as a,
        connect(server.mqtt_port, bob, tokens[bob]) as b,
    ):
        # As many as the default send limit takes at once (more get `rate_limited`).
        for index in range(SEND_BURST):
            await a.publish(ClientTopic.SEND, {"id": f"m{index}", "to": bob, "text": str(index)})
        acks = [await a.expect(InboxTopic.ACK) for _ in range(SEND_BURST)]
        received = [await b.expect(InboxTopic.MSG) for _ in range(SEND_BURST)]
    assert sorted(ack["seq"] for ack in acks) == list(range(1, SEND_BURST + 1))
    assert sorted(m["seq"] for m in received) == list(range(1, SEND_BURST + 1))
    # Sends from one connection are numbered in the order they were published.
    by_id = {ack["id"]: ack["seq"] for ack in acks}
    assert [by_id[f"m{index}"] for index in range(SEND_BURST)] == list(range(1, SEND_BURST + 1))

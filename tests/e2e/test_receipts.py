"""Receipts end to end: sent -> delivered -> read, live and through sync, with times."""

from __future__ import annotations

import httpx

from backend.topics import ClientTopic, InboxTopic
from tests.e2e.conftest import UserFactory
from tests.support.mqtt import connect
from tests.support.server import ServerProcess


async def test_ticks_flip_for_a_one_to_one_message(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    async with (
        connect(server.mqtt_port, alice, tokens[alice]) as a,
        connect(server.mqtt_port, bob, tokens[bob]) as b,
    ):
        ack = await a.send({"id": "m1", "to": bob, "text": "did you get this?"})
        conv = ack["conv"]
        await b.expect(InboxTopic.MSG)
        await b.publish(ClientTopic.RECEIPT, {"conv": conv, "delivered": ack["seq"]})
        delivered = await a.expect(InboxTopic.RECEIPT)
        await b.publish(ClientTopic.RECEIPT, {"conv": conv, "read": ack["seq"]})
        read = await a.expect(InboxTopic.RECEIPT)
        # Bob does not hear about his own receipts.
        await b.expect_none(InboxTopic.RECEIPT, within=0.3)
    assert delivered == {
        "conv": conv,
        "by": bob,
        "status": "delivered",
        "seq": 1,
        "ts": delivered["ts"],
        "all_delivered": 1,
        "all_read": 0,
    }
    assert read == {
        "conv": conv,
        "by": bob,
        "status": "read",
        "seq": 1,
        "ts": read["ts"],
        "all_delivered": 1,
        "all_read": 1,
    }
    assert read["ts"] >= delivered["ts"] >= ack["ts"]


async def test_an_offline_sender_learns_its_ticks_from_sync(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    async with connect(server.mqtt_port, alice, tokens[alice]) as a:
        acks = [await a.send({"id": f"m{i}", "to": bob, "text": str(i)}) for i in range(3)]
    conv = acks[0]["conv"]
    async with connect(server.mqtt_port, bob, tokens[bob]) as b:
        await b.publish(ClientTopic.RECEIPT, {"conv": conv, "delivered": 3})
        await b.publish(ClientTopic.RECEIPT, {"conv": conv, "read": 2})
        await b.publish(ClientTopic.SYNC, {"id": "barrier"})  # answered after both receipts
        await b.expect(InboxTopic.SYNC)
    async with connect(server.mqtt_port, alice, tokens[alice]) as a:
        await a.publish(ClientTopic.SYNC, {"id": "s"})
        end = await a.expect(InboxTopic.SYNC)
    assert end["convs"][conv] == {
        "last_seq": 3,
        "all_delivered": 3,
        "all_read": 2,
        "delivered": 3,
        "read": 3,
        "confirmed": 3,
    }


async def test_per_recipient_times_over_http(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("ann", "ben", "cat")
    ann, ben, cat = tokens
    async with httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {tokens[ann]}"}
    ) as http:
        conv = (
            await http.post("/v1/groups", json={"name": "Ticks", "members": [ben, cat]})
        ).json()["conv"]
    async with connect(server.mqtt_port, ann, tokens[ann]) as a:
        ack = await a.send({"id": "q", "conv": conv, "text": "who read this?"})
        async with connect(server.mqtt_port, ben, tokens[ben]) as b:
            await b.publish(ClientTopic.RECEIPT, {"conv": conv, "read": ack["seq"]})
            event = await a.expect(InboxTopic.RECEIPT)
        async with connect(server.mqtt_port, cat, tokens[cat]) as c:
            await c.publish(ClientTopic.RECEIPT, {"conv": conv, "delivered": ack["seq"]})
            await a.expect(InboxTopic.RECEIPT)
    assert (event["by"], event["all_read"]) == (ben, 0)  # cat has not read yet: the minimum is 0
    async with httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {tokens[ann]}"}
    ) as http:
        rows = (await http.get(f"/v1/conversations/{conv}/messages/{ack['seq']}/receipts")).json()
        missing = await http.get(f"/v1/conversations/{conv}/messages/99/receipts")
    by_user = {row["user"]: row for row in rows}
    assert sorted(by_user) == sorted([ben, cat])
    assert by_user[ben]["read_ts"] is not None
    assert by_user[ben]["delivered_ts"] == by_user[ben]["read_ts"]
    assert by_user[cat]["delivered_ts"] is not None
    assert by_user[cat]["read_ts"] is None
    assert by_user[cat]["delivered_ts"] >= ack["ts"]
    assert missing.status_code == 404


async def test_a_burst_of_receipts_is_coalesced_and_ends_at_the_last_mark(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    async with (
        connect(server.mqtt_port, alice, tokens[alice]) as a,
        connect(server.mqtt_port, bob, tokens[bob]) as b,
    ):
        for index in range(50):
            await a.publish(ClientTopic.SEND, {"id": f"m{index}", "to": bob, "text": str(index)})
        acks = [await a.expect(InboxTopic.ACK) for _ in range(50)]
        conv = acks[0]["conv"]
        for seq in range(1, 51):
            await b.publish(ClientTopic.RECEIPT, {"conv": conv, "delivered": seq})
        events = []
        while not events or events[-1]["seq"] < 50:
            events.append(await a.expect(InboxTopic.RECEIPT, timeout=2))
    assert len(events) < 50
    assert [event["seq"] for event in events] == sorted(event["seq"] for event in events)
    assert events[-1]["all_delivered"] == 50

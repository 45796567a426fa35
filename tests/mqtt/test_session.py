"""The backend's MQTT client against real brokers: the embedded one and Mosquitto.

Each test runs once per broker (the `broker` fixture). Losses are made on the wire by
`Relay`, never by mocking the broker.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from backend.mqtt import (
    ConnectionLost,
    ConnectRefused,
    Message,
    MqttError,
    Session,
    SubscribeRefused,
)
from backend.mqtt.connection import Connection
from backend.mqtt.packets import Publish
from tests.mqtt.conftest import Broker, Relay

WAIT_S = 10.0
REQUESTS = "chat/u/+/send"
ALICE_SEND = "chat/u/alice/send"
ALICE_INBOX = "chat/u/alice/in/#"


async def take(connection: Connection, count: int) -> list[Message]:
    """The next `count` messages, within WAIT_S."""
    taken: list[Message] = []
    async with asyncio.timeout(WAIT_S):
        async for message in connection.messages:
            taken.append(message)
            if len(taken) == count:
                break
    return taken


# Filters each account may subscribe to, where nothing is published.
BARRIER = {"backend": "chat/u/nobody/typing", "alice": "chat/u/alice/in/barrier"}


async def round_trip(connection: Connection, who: str) -> None:
    """A SUBSCRIBE answered: the broker has handled (and PUBACKed) all we sent before it."""
    await connection.subscribe([(BARRIER[who], 0)])


async def publish_then_lose(backend: Session, relay: Relay) -> None:
    """Publish 3 that the relay loses, then cut: the session keeps them unacknowledged."""
    async with backend.connect() as server:
        relay.up = False  # the broker never sees these
        await server.publish_many(
            [Publish("chat/u/alice/in/msg", b"%d" % index, 1) for index in range(3)]
        )
        await asyncio.sleep(0)  # written at the end of this turn
        relay.cut()
        async for _ in server.messages:
            pass  # ends with the connection; leaving the block raises why


async def read_until_lost(session: Session, relay: Relay) -> None:
    """Connect, then hear nothing more from the broker."""
    async with asyncio.timeout(WAIT_S), session.connect() as client:
        relay.down = False
        async for _ in client.messages:
            pass


async def test_a_batch_arrives_whole_in_order_and_is_acknowledged(broker: Broker) -> None:
    backend = broker.session("backend", manual_ack=True, clean_session=False)
    alice = broker.session("alice")
    payloads = [f'{{"id":"m{index}"}}'.encode() for index in range(500)]
    async with backend.connect() as server, alice.connect() as client:
        assert await server.subscribe([(REQUESTS, 1)]) == [1]
        await client.publish_many([Publish(ALICE_SEND, payload, 1) for payload in payloads])
        # Handlers finish in any order; PUBACKs still leave in arrival order, and the
        # broker's window (100 unacknowledged for the embedded one, 20 for Mosquitto)
        # moves on as they do.
        received: list[Message] = []
        shuffle = random.Random(1).shuffle
        while len(received) < len(payloads):
            chunk = await take(server, 10)
            received += chunk
            shuffle(chunk)
            for message in chunk:
                server.ack(message)
        await round_trip(client, "alice")
        assert len(alice.unacked) == 0
    assert [message.payload for message in received] == payloads
    assert {(message.topic, message.qos, message.retain) for message in received} == {
        (ALICE_SEND, 1, False)
    }


async def test_a_fan_out_reaches_the_user_at_both_qos(broker: Broker) -> None:
    backend = broker.session("backend")
    alice = broker.session("alice")
    async with backend.connect() as server, alice.connect() as client:
        await client.subscribe([(ALICE_INBOX, 1)])
        items = [Publish("chat/u/alice/in/msg", b"%d" % index, 1) for index in range(256)]
        items.append(Publish("chat/u/alice/in/typing", b"typing", 0))
        await server.publish_many(items)
        received = await take(client, len(items))
        await round_trip(server, "backend")
        assert len(backend.unacked) == 0
    # In order within a QoS; a QoS 0 one may overtake QoS 1 ones the broker queued.
    for qos in (0, 1):
        assert [(message.topic, message.payload) for message in received if message.qos == qos] == [
            (item.topic, item.payload) for item in items if item.qos == qos
        ]


async def test_a_retained_publication_is_delivered_as_retained(broker: Broker) -> None:
    backend = broker.session("backend")
    async with backend.connect() as server:
        await server.publish("presence/alice", b'{"online":true}', retain=True)
        await round_trip(server, "backend")
    async with broker.session("alice").connect() as client:
        await client.subscribe([("presence/alice", 1)])
        (message,) = await take(client, 1)
    assert (message.topic, message.retain) == ("presence/alice", True)


async def test_a_refused_connect_says_why(broker: Broker) -> None:
    if broker.kind == "embedded":
        session = broker.session("alice", password="wrong")
        expected = {4, 5}
    else:  # no id, and a session to keep: Mosquitto refuses the identifier
        session = broker.session("alice", client_id="", clean_session=False)
        expected = {2}
    with pytest.raises(ConnectRefused) as refused:
        async with session.connect():
            pass
    assert refused.value.return_code in expected
    assert "CONNECT refused" in refused.value.reason


async def test_a_refused_subscription_names_its_filter(broker: Broker) -> None:
    if broker.kind == "mosquitto":
        pytest.skip("Mosquitto's acl_file grants every SUBSCRIBE (3.1.1), filtering delivery")
    async with broker.session("alice").connect() as client:
        with pytest.raises(SubscribeRefused) as refused:
            await client.subscribe([(ALICE_INBOX, 1), (broker.refused_filter, 1)])
    assert refused.value.refused == [broker.refused_filter]


async def test_no_broker_is_a_clean_error(broker: Broker) -> None:
    session = broker.session("alice", port=1, timeout=2)
    with pytest.raises(ConnectionLost, match="cannot connect"):
        async with session.connect():
            pass


async def test_requests_sent_while_away_wait_in_the_session(broker: Broker) -> None:
    backend = broker.session("backend", manual_ack=True, clean_session=False)
    async with backend.connect() as server:
        await server.subscribe([(REQUESTS, 1)])
    async with broker.session("alice").connect() as client:
        await client.publish_many([Publish(ALICE_SEND, b"%d" % index, 1) for index in range(5)])
        await round_trip(client, "alice")
    async with backend.connect() as server:
        assert server.session_present
        received = await take(server, 5)
        for message in received:
            server.ack(message)
    assert [message.payload for message in received] == [b"%d" % index for index in range(5)]


async def test_requests_not_acked_come_again_and_acked_ones_do_not(broker: Broker) -> None:
    backend = broker.session("backend", manual_ack=True, clean_session=False)
    async with backend.connect() as server, broker.session("alice").connect() as client:
        await server.subscribe([(REQUESTS, 1)])
        await client.publish_many([Publish(ALICE_SEND, b"%d" % index, 1) for index in range(4)])
        first = await take(server, 4)
        server.ack(first[0])
        server.ack(first[2])  # after handling, but 1 was not handled: only 0 is PUBACKed
    async with backend.connect() as server, broker.session("alice").connect() as client:
        again = await take(server, 3)
        for message in again:
            server.ack(message)
        await client.publish(ALICE_SEND, b"marker")
        (marker,) = await take(server, 1)
        server.ack(marker)
    assert [(message.payload, message.dup) for message in again] == [
        (b"1", True),
        (b"2", True),
        (b"3", True),
    ]
    assert marker.payload == b"marker"


async def test_publications_lost_on_the_wire_are_sent_again_with_dup(
    broker: Broker, relay: Relay
) -> None:
    backend = broker.session("backend", port=relay.port, clean_session=False)
    async with broker.session("alice").connect() as client:
        await client.subscribe([(ALICE_INBOX, 1)])
        with pytest.raises(ConnectionLost):
            await publish_then_lose(backend, relay)
        assert len(backend.unacked) == 3
        relay.up = True
        async with backend.connect() as server:
            assert server.session_present
            received = await take(client, 3)
            await round_trip(server, "backend")
            assert len(backend.unacked) == 0
    assert [message.payload for message in received] == [b"0", b"1", b"2"]


async def test_a_silent_broker_is_taken_for_dead(broker: Broker, relay: Relay) -> None:
    session = broker.session("alice", port=relay.port, keepalive=1)
    with pytest.raises(ConnectionLost, match="sent nothing") as lost:
        await read_until_lost(session, relay)
    assert isinstance(lost.value, MqttError)


async def test_publishers_wait_while_the_window_is_full(broker: Broker, relay: Relay) -> None:
    backend = broker.session("backend", port=relay.port, max_inflight=10)
    async with broker.session("alice").connect() as client, backend.connect() as server:
        await client.subscribe([(ALICE_INBOX, 1)])
        relay.hold("down")  # no PUBACK reaches the backend for now
        batch = [Publish("chat/u/alice/in/msg", b"%d" % index, 1) for index in range(10)]
        await server.publish_many(batch)
        later = asyncio.create_task(server.publish("chat/u/alice/in/msg", b"later"))
        first = await take(client, 10)
        await asyncio.sleep(0.2)  # what does not happen cannot be awaited
        assert not later.done()
        assert len(backend.unacked) == 10
        relay.release("down")
        async with asyncio.timeout(WAIT_S):
            await later
        (last,) = await take(client, 1)
    assert [message.payload for message in first] == [item.payload for item in batch]
    assert last.payload == b"later"

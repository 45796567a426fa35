"""Malformed and oversized packets close their connection, and only theirs.

Every `test_fault_*` here fails against stock amqtt (AMQTT_STOCK=1).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.broker.raw import RawClient, packet, publish_packet, subscribe_packet
from tests.broker.support import Accounts, Peer

SUBACK = 0x90


@pytest.fixture
def alice_raw(accounts: Accounts, raw: Callable[[], RawClient]) -> RawClient:
    client = raw()
    assert client.connect("alice:raw", "alice", accounts.token["alice"]) == 0
    return client


def assert_broker_still_serves(peer: Callable[..., Peer], backend: Peer) -> None:
    bob = peer("bob").connected()
    bob.publish("chat/u/bob/send", b"still working")
    assert backend.expect().payload == b"still working"


@pytest.mark.parametrize("qos", [0, 1])
def test_fault_08_publish_to_an_empty_topic_closes_the_connection(
    alice_raw: RawClient, peer: Callable[..., Peer], backend: Peer, qos: int
) -> None:
    backend.subscribe("chat/u/+/send")
    # amqtt stopped serving the connection but kept it open, reading into a dead queue.
    alice_raw.send(publish_packet("", b"x", qos=qos))
    assert alice_raw.closed_by_broker()
    assert_broker_still_serves(peer, backend)


@pytest.mark.parametrize("topic", ["chat/u/alice/+", "chat/u/alice/#"])
def test_fault_08_publish_to_a_wildcard_topic_closes_the_connection(
    alice_raw: RawClient, peer: Callable[..., Peer], backend: Peer, topic: str
) -> None:
    backend.subscribe("chat/u/+/send")
    alice_raw.send(publish_packet(topic, b"x", qos=1))
    assert alice_raw.closed_by_broker()
    assert_broker_still_serves(peer, backend)


def test_fault_11_subscribe_with_qos_3_closes_the_connection(alice_raw: RawClient) -> None:
    # amqtt granted "QoS 3" in its SUBACK.
    alice_raw.send(subscribe_packet(1, [("chat/u/alice/in/#", 3)]))
    assert alice_raw.read_packet() is None


def test_fault_11_subscribe_without_filters_closes_the_connection(alice_raw: RawClient) -> None:
    # amqtt answered with an empty SUBACK.
    alice_raw.send(subscribe_packet(1, []))
    assert alice_raw.read_packet() is None


def test_a_well_formed_subscribe_gets_its_suback(alice_raw: RawClient) -> None:
    alice_raw.send(subscribe_packet(7, [("chat/u/alice/in/#", 1), ("chat/u/bob/in/#", 1)]))
    assert alice_raw.read_packet() == (SUBACK, b"\x00\x07\x01\x80")


@pytest.mark.parametrize(
    "bad",
    [
        packet(0x80, b"\x00\x01\x00\x01a\x01"),  # SUBSCRIBE with flags 0000
        packet(0x10, b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a"),  # a second CONNECT
        packet(0x20, b"\x00\x00"),  # CONNACK, which only a broker sends
        packet(0x36, b"\x00\x01a\x00\x01x"),  # PUBLISH with QoS 3
        packet(0x32, b"\x00\x01a\x00\x00x"),  # QoS 1 with packet id 0
        packet(0x30, b"\x00\x05ab"),  # a topic longer than the packet
        b"\x30\xff\xff\xff\xff\x01",  # a remaining length of five bytes
        packet(0xA2, b"\x00\x01"),  # UNSUBSCRIBE without filters
    ],
    ids=[
        "subscribe-flags",
        "second-connect",
        "connack",
        "publish-qos3",
        "packet-id-0",
        "short-packet",
        "length-5-bytes",
        "empty-unsubscribe",
    ],
)
def test_a_malformed_packet_closes_the_connection(
    alice_raw: RawClient, peer: Callable[..., Peer], backend: Peer, bad: bytes
) -> None:
    backend.subscribe("chat/u/+/send")
    alice_raw.send(bad)
    assert alice_raw.closed_by_broker()
    assert_broker_still_serves(peer, backend)


def test_an_oversized_publish_closes_the_connection(
    peer: Callable[..., Peer], backend: Peer
) -> None:
    backend.subscribe("chat/u/+/send")
    alice = peer("alice").connected()
    # amqtt has no limit: it would read and relay any size up to MQTT's 256 MiB.
    alice.client.publish("chat/u/alice/send", b"x" * (256 * 1024), qos=1)
    assert alice.closed.wait(5)
    assert_broker_still_serves(peer, backend)


def test_a_publish_within_the_limit_goes_through(peer: Callable[..., Peer], backend: Peer) -> None:
    backend.subscribe("chat/u/+/send")
    payload = b"x" * (200 * 1024)
    peer("alice").connected().publish("chat/u/alice/send", payload)
    assert backend.expect().payload == payload


def test_an_oversized_connect_is_closed_before_it_is_read(raw: Callable[[], RawClient]) -> None:
    client = raw()
    client.send(b"\x10\xff\xff\xff\x7f")  # announces a 256 MiB CONNECT
    assert client.closed_by_broker()

"""MQTT 3.1.1 packets that break the protocol, for the hostile-client tests.

Built on `tests.broker.raw`'s packet builders; each entry is named for what is wrong.
"""

from __future__ import annotations

import struct

from backend.topics import ClientTopic, client_topic
from tests.broker.raw import connect_packet, packet, publish_packet, subscribe_packet


def string(data: bytes) -> bytes:
    """An MQTT string: two bytes of length, then the bytes (UTF-8 or not)."""
    return struct.pack("!H", len(data)) + data


def connect_with(flags_mask: int = 0, name: bytes = b"MQTT", cut: int = 0) -> bytes:
    """A CONNECT with extra flag bits, another protocol name, or its last `cut` bytes gone
    (its fields then run past the length it announces)."""
    body = connect_packet("x", "u", "p")[2:]  # the fixed header is 2 bytes here
    body = string(name) + body[6:]
    body = body[:7] + bytes([body[7] | flags_mask]) + body[8:]
    return packet(0x10, body[: len(body) - cut])


# Sent instead of the CONNECT that must open a connection.
BEFORE_CONNECT = {
    "publish-first": publish_packet("chat/u/x/send", b"{}"),
    "subscribe-first": subscribe_packet(1, [("#", 1)]),
    "pingreq-first": b"\xc0\x00",
    "remaining-length-5-bytes": b"\x10\xff\xff\xff\xff\x01",
    "reserved-packet-type-0": b"\x00\x00",
    "an-http-request": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "connect-reserved-flag": connect_with(flags_mask=0x01),
    "connect-protocol-name": connect_with(name=b"MQTX"),
    "connect-fields-past-its-length": connect_with(cut=3),
    "connect-will-qos-3": connect_with(flags_mask=0x04 | 0x18),
    "connect-protocol-level-9": connect_packet("x", "u", "p", level=9),
    "connect-password-without-user": packet(
        0x10, string(b"MQTT") + bytes([4, 0x40 | 0x02]) + b"\x00\x3c" + string(b"x") + string(b"p")
    ),
    "connect-client-id-not-utf8": packet(
        0x10, string(b"MQTT") + bytes([4, 0x02]) + b"\x00\x3c" + string(b"\xff\xfe")
    ),
}


def after_connect(user: str) -> dict[str, bytes]:
    """Sent by `user` once connected."""
    topic = client_topic(user, ClientTopic.SEND).encode()
    return {
        "publish-topic-not-utf8": packet(0x30, string(topic + b"\xff\xfe") + b"{}"),
        "publish-topic-with-nul": packet(0x30, string(topic + b"\x00") + b"{}"),
        "publish-wildcard-topic": publish_packet(f"chat/u/{user}/#", b"{}"),
        "publish-empty-topic": publish_packet("", b"{}"),
        "publish-qos-3": packet(0x36, string(topic) + b"\x00\x01{}"),
        "publish-qos-1-packet-id-0": publish_packet(topic.decode(), b"{}", qos=1, packet_id=0),
        "publish-topic-past-its-length": packet(0x30, struct.pack("!H", 200) + topic),
        "subscribe-reserved-flags-0": packet(0x80, b"\x00\x01" + string(b"x") + b"\x01"),
        "subscribe-without-filters": packet(0x82, b"\x00\x01"),
        "subscribe-qos-3": subscribe_packet(1, [(f"chat/u/{user}/in/#", 3)]),
        "unsubscribe-without-filters": packet(0xA2, b"\x00\x01"),
        "a-second-connect": connect_packet(user),
        "connack-from-a-client": b"\x20\x02\x00\x00",
        "puback-of-3-bytes": packet(0x40, b"\x00\x01\x02"),
        "pingreq-with-a-body": packet(0xC0, b"\x00"),
        "reserved-packet-type-15": b"\xf0\x00",
    }


# Trailing bytes in a packet of fixed length: MQTT 3.1.1 makes it a violation, but
# Mosquitto 2.0 reads what it needs and goes on. Either is safe: closed, or still served.
CLOSED_OR_IGNORED = frozenset({"puback-of-3-bytes", "pingreq-with-a-body"})


def bad_connects(attacker: str, victim: str, attacker_token: str) -> list[bytes]:
    """CONNECTs a server must refuse, several aimed at `victim`'s session."""
    return [
        connect_packet(attacker, attacker, "not-the-token"),  # a wrong token
        connect_packet(victim, victim, attacker_token),  # the victim's id, another's token
        connect_packet(victim, victim, "guess"),
        connect_packet("nobody", "nobody", "x"),  # no such user
        connect_packet(attacker),  # no credentials
        connect_packet(f"{victim}:phone", attacker, attacker_token),  # another's client id
        connect_with(name=b"MQTX"),  # not MQTT at all
    ]

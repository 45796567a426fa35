"""The backend's MQTT codec: every packet round-trips, bytes match the standard, streams
split anywhere decode the same, and malformed input raises `MalformedPacket`, never
anything else."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.mqtt.decode import Decoder, decode_packet
from backend.mqtt.encode import encode, encode_length, encode_puback, encode_publish
from backend.mqtt.packets import (
    MAX_REMAINING_LENGTH,
    Connack,
    Connect,
    Disconnect,
    MalformedPacket,
    Packet,
    Pingreq,
    Pingresp,
    Puback,
    Publish,
    Suback,
    Subscribe,
)

PACKETS: list[Packet] = [
    Connect("backend", "_mqchat-backend", "s3cret", 30, clean_session=False),
    Connect("c", None, None, 0, clean_session=True),
    Connect("", "user", None, 65_535),
    Connect("ü-client", "ü", "pässwörd"),
    Connack(session_present=False, return_code=0),
    Connack(session_present=True, return_code=0),
    Connack(session_present=False, return_code=5),
    Publish("chat/u/alice/send", b'{"id":"m1"}', qos=1, packet_id=1),
    Publish("chat/u/alice/send", b"", qos=1, retain=True, dup=True, packet_id=65_535),
    Publish("a", b"x" * 200_000, qos=0),
    Publish("chat/u/é/in/msg", b"\x00\xff", qos=0, retain=True),
    Puback(1),
    Puback(65_535),
    Subscribe(7, (("chat/u/+/send", 1), ("$SYS/#", 0), ("a/b", 2))),
    Suback(7, (1, 0, 0x80, 2)),
    Pingreq(),
    Pingresp(),
    Disconnect(),
]


def decode_all(data: bytes) -> list[Packet]:
    decoder = Decoder()
    packets = decoder.feed(data)
    assert decoder.feed(b"") == []
    return packets


@pytest.mark.parametrize("packet", PACKETS, ids=lambda packet: type(packet).__name__)
def test_every_packet_round_trips(packet: Packet) -> None:
    assert decode_all(encode(packet)) == [packet]


def test_bytes_are_those_of_the_standard() -> None:
    assert encode(Puback(5)) == encode_puback(5) == b"\x40\x02\x00\x05"
    assert encode(Pingreq()) == b"\xc0\x00"
    assert encode(Pingresp()) == b"\xd0\x00"
    assert encode(Disconnect()) == b"\xe0\x00"
    assert encode(Connack(True, 0)) == b"\x20\x02\x01\x00"
    assert encode_publish("a/b", b"hi", 1, 10) == b"\x32\x09\x00\x03a/b\x00\x0ahi"
    assert encode_publish("a/b", b"hi", 1, 10, retain=True, dup=True) == (
        b"\x3b\x09\x00\x03a/b\x00\x0ahi"
    )
    assert encode_publish("a/b", b"hi") == b"\x30\x07\x00\x03a/bhi"
    assert encode(Subscribe(1, (("a/#", 1),))) == b"\x82\x08\x00\x01\x00\x03a/#\x01"
    assert encode(Suback(1, (1, 0x80))) == b"\x90\x04\x00\x01\x01\x80"
    # CONNECT: "MQTT", level 4, flags user+password (clean session off), keepalive 30.
    assert encode(Connect("c", "u", "p", 30, clean_session=False)) == (
        b"\x10\x13\x00\x04MQTT\x04\xc0\x00\x1e\x00\x01c\x00\x01u\x00\x01p"
    )


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (MAX_REMAINING_LENGTH, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length_at_every_boundary(length: int, encoded: bytes) -> None:
    assert encode_length(length) == encoded
    if not length:
        return
    header = b"\x30" + encoded
    decoder = Decoder()
    # The header alone, split after each byte: nothing yet, and no error.
    for index in range(len(header)):
        assert decoder.feed(header[index : index + 1]) == []


def test_remaining_length_over_four_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        encode_length(MAX_REMAINING_LENGTH + 1)
    with pytest.raises(MalformedPacket, match="more than 4 bytes"):
        Decoder().feed(b"\x30\xff\xff\xff\xff\x01")


def test_a_stream_split_at_every_byte_decodes_the_same() -> None:
    stream = b"".join(encode(packet) for packet in PACKETS if not isinstance(packet, Publish))
    stream += encode(Publish("t", b"p" * 300, 1, packet_id=3))  # a two-byte length
    expected = decode_all(stream)
    assert len(expected) == len(PACKETS) - 3
    for split in range(len(stream) + 1):
        decoder = Decoder()
        assert decoder.feed(stream[:split]) + decoder.feed(stream[split:]) == expected
    decoder = Decoder()
    assert [packet for byte in stream for packet in decoder.feed(bytes([byte]))] == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=40))
def test_a_stream_split_anyhow_decodes_the_same(chunk_sizes: list[int]) -> None:
    stream = b"".join(encode(packet) for packet in PACKETS[:16])
    decoder, packets, offset = Decoder(), [], 0
    for size in chunk_sizes:
        packets += decoder.feed(stream[offset : offset + size])
        offset += size
    packets += decoder.feed(stream[offset:])
    assert packets == PACKETS[:16]


topics = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"),
    min_size=1,
    max_size=50,
)


@settings(max_examples=200, deadline=None)
@given(
    topic=topics,
    payload=st.binary(max_size=300),
    qos=st.sampled_from([0, 1]),
    retain=st.booleans(),
    dup=st.booleans(),
    packet_id=st.integers(min_value=1, max_value=65_535),
)
def test_any_publish_round_trips(
    topic: str, payload: bytes, qos: int, retain: bool, dup: bool, packet_id: int
) -> None:
    packet = Publish(topic, payload, qos, retain, dup and qos == 1, packet_id if qos else None)
    assert decode_all(encode(packet)) == [packet]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_garbage_is_malformed_or_incomplete_never_a_crash(data: bytes) -> None:
    with contextlib.suppress(MalformedPacket):
        Decoder().feed(data)


MALFORMED: dict[str, tuple[bytes, str]] = {
    "reserved type 0": (b"\x00\x00", "packet type 0 is not supported here"),
    "reserved type 15": (b"\xf0\x00", "packet type 15 is not supported here"),
    "QoS 2 PUBREC": (b"\x50\x02\x00\x01", "packet type 5 is not supported here"),
    "PUBREL": (b"\x62\x02\x00\x01", "[MQTT-2.2.2-2]"),
    "UNSUBACK": (b"\xb0\x02\x00\x01", "packet type 11 is not supported here"),
    "PUBACK with flags": (b"\x41\x02\x00\x01", "[MQTT-2.2.2-2]"),
    "PUBACK too long": (b"\x40\x03\x00\x01\x00", "PUBACK must have 2 bytes"),
    "PUBACK too short": (b"\x40\x01\x00", "PUBACK must have 2 bytes"),
    "PUBACK id 0": (b"\x40\x02\x00\x00", "[MQTT-2.3.1-1]"),
    "PUBLISH QoS 3": (b"\x36\x05\x00\x01a\x00\x01", "[MQTT-3.3.1-4]"),
    "PUBLISH QoS 2": (b"\x34\x05\x00\x01a\x00\x01", "QoS 2 is not supported here"),
    "PUBLISH QoS 0 with DUP": (b"\x38\x03\x00\x01a", "[MQTT-3.3.1-2]"),
    "PUBLISH wildcard +": (b"\x30\x05\x00\x03a/+", "[MQTT-3.3.2-2]"),
    "PUBLISH wildcard #": (b"\x30\x03\x00\x01#", "[MQTT-3.3.2-2]"),
    "PUBLISH empty topic": (b"\x30\x02\x00\x00", "[MQTT-3.3.2-2]"),
    "PUBLISH topic not UTF-8": (b"\x30\x03\x00\x01\xff", "[MQTT-1.5.3-1]"),
    "PUBLISH topic with U+0000": (b"\x30\x04\x00\x02a\x00", "[MQTT-1.5.3-2]"),
    "PUBLISH topic longer than packet": (b"\x30\x03\x00\x09a", "the packet ends inside a string"),
    "PUBLISH QoS 1 without id": (b"\x32\x03\x00\x01a", "the packet ends inside its packet id"),
    "PUBLISH QoS 1 id 0": (b"\x32\x05\x00\x01a\x00\x00", "[MQTT-2.3.1-1]"),
    "PUBLISH no topic length": (b"\x30\x01\x00", "the packet ends inside a string's length"),
    "CONNACK too long": (b"\x20\x03\x00\x00\x00", "CONNACK must have 2 bytes"),
    "CONNACK reserved flags": (b"\x20\x02\x02\x00", "[MQTT-3.2.2-1]"),
    "CONNACK refusal with session": (b"\x20\x02\x01\x05", "[MQTT-3.2.2-4]"),
    "SUBACK without codes": (b"\x90\x02\x00\x01", "SUBACK without a return code"),
    "SUBACK code 3": (b"\x90\x03\x00\x01\x03", "[MQTT-3.9.3-2]"),
    "SUBSCRIBE flags 0": (b"\x80\x06\x00\x01\x00\x01a\x01", "[MQTT-3.8.1-1]"),
    "SUBSCRIBE QoS 3": (b"\x82\x06\x00\x01\x00\x01a\x03", "[MQTT-3.8.3-4]"),
    "SUBSCRIBE without QoS": (b"\x82\x05\x00\x01\x00\x01a", "SUBSCRIBE ends before a filter's QoS"),
    "SUBSCRIBE without filter": (b"\x82\x02\x00\x01", "[MQTT-3.8.3-3]"),
    "PINGRESP with a body": (b"\xd0\x01\x00", "PINGRESP must have 0 bytes"),
    "DISCONNECT with flags": (b"\xe2\x00", "[MQTT-2.2.2-2]"),
    "CONNECT MQIsdp": (
        b"\x10\x0e\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x00",
        "not an MQTT 3.1.1 CONNECT",
    ),
    "CONNECT level 5": (
        b"\x10\x0c\x00\x04MQTT\x05\x02\x00\x3c\x00\x00",
        "not an MQTT 3.1.1 CONNECT",
    ),
    "CONNECT reserved flag": (b"\x10\x0c\x00\x04MQTT\x04\x03\x00\x3c\x00\x00", "[MQTT-3.1.2-3]"),
    "CONNECT will": (
        b"\x10\x0c\x00\x04MQTT\x04\x06\x00\x3c\x00\x00",
        "wills are not supported here",
    ),
    "CONNECT password only": (
        b"\x10\x0f\x00\x04MQTT\x04\x42\x00\x3c\x00\x00\x00\x01p",
        "[MQTT-3.1.2-22]",
    ),
    "CONNECT trailing bytes": (
        b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x00\x00",
        "CONNECT has bytes after its payload",
    ),
    "CONNECT truncated": (b"\x10\x08\x00\x04MQTT\x04\x02", "CONNECT ends inside its header"),
}


@pytest.mark.parametrize(("data", "reason"), MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_packets_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedPacket, match=re.escape(reason)):
        Decoder().feed(data)
    # Split anywhere, the same bytes are refused once they are all there.
    decoder = Decoder()
    for byte in data[:-1]:
        assert decoder.feed(bytes([byte])) == []
    with pytest.raises(MalformedPacket, match=re.escape(reason)):
        decoder.feed(data[-1:])


def test_malformed_after_good_packets_still_raises() -> None:
    decoder = Decoder()
    assert decoder.feed(encode(Puback(1))) == [Puback(1)]
    with pytest.raises(MalformedPacket):
        decoder.feed(encode(Puback(2)) + MALFORMED["PUBACK id 0"][0])


def test_a_packet_over_the_limit_is_refused_from_its_header() -> None:
    decoder = Decoder(max_packet_bytes=1000)
    big = encode_publish("t", b"x" * 1001)
    with pytest.raises(MalformedPacket, match="over the 1000 limit"):
        decoder.feed(big[:4])  # before the body arrives
    assert Decoder(max_packet_bytes=1000).feed(encode_publish("t", b"x" * 990)) != []


def test_decode_packet_takes_a_body() -> None:
    assert decode_packet(0x40, b"\x00\x09") == Puback(9)
    assert decode_packet(0x33, b"\x00\x01a\x00\x02body") == Publish("a", b"body", 1, True, False, 2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: encode_publish("t", b"", 2, 1), "QoS 2"),
        (lambda: encode_publish("t", b"", 1), "packet id"),
        (lambda: encode_publish("t", b"", 1, 0), "packet id 0"),
        (lambda: encode_publish("t", b"", 1, 65_536), "packet id 65536"),
        (lambda: encode_publish("t", b"", 0, 5), "QoS 0"),
        (lambda: encode_publish("t", b"", 0, dup=True), "QoS 0"),
        (lambda: encode_publish("a/+", b""), "not a topic name"),
        (lambda: encode_publish("", b""), "not a topic name"),
        (lambda: encode_publish("t" * 65_536, b""), "at most 65535"),
        (lambda: encode(Subscribe(1, ())), "at least one filter"),
        (lambda: encode(Subscribe(1, (("a", 3),))), "QoS 3"),
        (lambda: encode(Suback(1, (3,))), "return codes"),
        (lambda: encode(Connect("c", None, "p")), "needs a username"),
        (lambda: encode(Connect("c", keepalive=70_000)), "keepalive"),
        (lambda: encode(Connack(False, 256)), "return code"),
        (lambda: encode_puback(0), "packet id 0"),
    ],
)
def test_what_mqtt_cannot_carry_is_not_encoded(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_a_binary_password_round_trips() -> None:
    packet = Connect("c", "u", b"\xff\xfe".decode(errors="surrogateescape"))
    assert decode_all(encode(packet)) == [packet]

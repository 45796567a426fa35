"""The raw relay client's packet encoding and framing (MQTT 3.1.1)."""

from __future__ import annotations

import pytest

from clients.bench.rawmqtt import (
    connect_packet,
    encode_length,
    packet,
    publish_packet,
    split_packets,
)


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length_as_the_spec_examples(length: int, encoded: bytes) -> None:
    assert encode_length(length) == encoded


def test_connect_is_mqtt_311_clean_with_credentials() -> None:
    data = connect_packet("alice:relay", "alice", "secret")
    assert data[0] == 0x10
    body = data[2:]
    assert body[:8] == b"\x00\x04MQTT\x04\xc2"  # level 4; username, password, clean session
    assert body[8:10] == b"\x00\x3c"  # keep-alive 60 s
    assert body[10:] == b"\x00\x0balice:relay\x00\x05alice\x00\x06secret"


def test_publish_is_qos_1_with_its_packet_id() -> None:
    data = publish_packet("chat/u/a/send", b"{}", 513)
    assert data == b"\x32\x13\x00\x0dchat/u/a/send\x02\x01{}"


def test_split_packets_takes_whole_packets_and_keeps_the_rest() -> None:
    big = packet(0x32, b"x" * 200)  # a two-byte remaining length
    buffer = bytearray(packet(0x40, b"\x00\x01") + big + big[:5])
    assert split_packets(buffer) == [(0x40, b"\x00\x01"), (0x32, b"x" * 200)]
    assert buffer == big[:5]
    buffer += big[5:]
    assert split_packets(buffer) == [(0x32, b"x" * 200)]
    assert buffer == b""


def test_split_packets_waits_for_a_length_cut_in_half() -> None:
    buffer = bytearray(b"\x32\x80")  # the length continues in a byte not yet received
    assert split_packets(buffer) == []
    assert buffer == b"\x32\x80"


def test_split_packets_of_an_empty_body() -> None:
    buffer = bytearray(b"\xd0\x00")  # PINGRESP
    assert split_packets(buffer) == [(0xD0, b"")]


def test_connect_with_a_persistent_session_and_a_qos_1_will() -> None:
    data = connect_packet(
        "alice", "alice", "secret", clean=False, will=("chat/u/alice/presence", b"off")
    )
    body = data[2:]
    assert body[7] == 0xCC  # username, password, will QoS 1, will; not clean, not retained
    assert body[10:] == (
        b"\x00\x05alice\x00\x15chat/u/alice/presence\x00\x03off\x00\x05alice\x00\x06secret"
    )

"""Bytes to MQTT 3.1.1 packets, as they arrive: split anywhere, checked as they come.

`Decoder.feed` returns the packets its bytes complete; anything that breaks a rule of
the standard raises `MalformedPacket`, after which the stream is out of step and the
caller closes the connection [MQTT-2.2.2-2].
"""

from __future__ import annotations

import struct

from backend.mqtt.packets import (
    CONNACK,
    CONNECT,
    DISCONNECT,
    MAX_REMAINING_LENGTH,
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBLISH,
    SUBACK,
    SUBACK_CODES,
    SUBSCRIBE,
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

_DUP, _RETAIN = 0x08, 0x01
_U16 = struct.Struct("!H")


class Decoder:
    """Bytes in as they come, whole packets out; `MalformedPacket` on a broken stream.

    After a `MalformedPacket` the stream is out of step: close the connection.
    """

    def __init__(self, max_packet_bytes: int = MAX_REMAINING_LENGTH) -> None:
        self._buffer = bytearray()
        self._max = max_packet_bytes

    def feed(self, data: bytes) -> list[Packet]:
        """Every packet completed by `data`, in order; the rest waits for more bytes."""
        buffer = self._buffer
        buffer += data
        packets: list[Packet] = []
        offset, end = 0, len(buffer)
        while end - offset >= 2:
            length, multiplier, index, complete = 0, 1, offset + 1, False
            while index < end:
                byte = buffer[index]
                index += 1
                length += (byte & 0x7F) * multiplier
                if not byte & 0x80:
                    complete = True
                    break
                if index - offset > 4:
                    raise MalformedPacket("the remaining length takes more than 4 bytes")
                multiplier <<= 7
            if not complete:
                break  # the length itself is not all here yet
            if length > self._max:
                raise MalformedPacket(f"a {length}-byte packet is over the {self._max} limit")
            if index + length > end:
                break
            packets.append(decode_packet(buffer[offset], bytes(buffer[index : index + length])))
            offset = index + length
        if offset:
            del buffer[:offset]
        return packets


def decode_packet(first_byte: int, body: bytes) -> Packet:
    """One packet from its first byte and its body (what follows the remaining length)."""
    kind, flags = first_byte >> 4, first_byte & 0x0F
    if kind == PUBLISH:
        return _decode_publish(flags, body)
    if kind == SUBSCRIBE:
        if flags != 0x02:
            raise MalformedPacket("SUBSCRIBE's fixed flags must be 0010 [MQTT-3.8.1-1]")
        return _decode_subscribe(body)
    if flags:
        raise MalformedPacket(f"packet type {kind} with flags {flags:04b} [MQTT-2.2.2-2]")
    if kind == PUBACK:
        _expect_length(body, 2, "PUBACK")
        return Puback(_read_packet_id(body, 0))
    if kind == CONNACK:
        return _decode_connack(body)
    if kind == SUBACK:
        return _decode_suback(body)
    if kind in _EMPTY:
        _expect_length(body, 0, _EMPTY[kind].__name__.upper())
        return _EMPTY[kind]()
    if kind == CONNECT:
        return _decode_connect(body)
    raise MalformedPacket(f"packet type {kind} is not supported here")


_EMPTY: dict[int, type[Pingreq | Pingresp | Disconnect]] = {
    PINGREQ: Pingreq,
    PINGRESP: Pingresp,
    DISCONNECT: Disconnect,
}


def _expect_length(body: bytes, length: int, name: str) -> None:
    if len(body) != length:
        raise MalformedPacket(f"{name} must have {length} bytes after its header, not {len(body)}")


def _read_packet_id(body: bytes, offset: int) -> int:
    if len(body) < offset + 2:
        raise MalformedPacket("the packet ends inside its packet id")
    (packet_id,) = _U16.unpack_from(body, offset)
    if packet_id == 0:
        raise MalformedPacket("packet id 0 [MQTT-2.3.1-1]")
    return int(packet_id)


def _read_binary(body: bytes, offset: int) -> tuple[bytes, int]:
    """Length-prefixed bytes at `offset`, and the offset after them."""
    if len(body) < offset + 2:
        raise MalformedPacket("the packet ends inside a string's length")
    (length,) = _U16.unpack_from(body, offset)
    start = offset + 2
    if len(body) < start + length:
        raise MalformedPacket("the packet ends inside a string")
    return body[start : start + length], start + length


def _read_string(body: bytes, offset: int) -> tuple[str, int]:
    """A length-prefixed UTF-8 string at `offset`, and the offset after it."""
    raw, end = _read_binary(body, offset)
    try:
        text = raw.decode()
    except UnicodeDecodeError as error:
        raise MalformedPacket(f"a string is not UTF-8 [MQTT-1.5.3-1]: {error}") from None
    if "\x00" in text:
        raise MalformedPacket("a string holds U+0000 [MQTT-1.5.3-2]")
    return text, end


def _decode_publish(flags: int, body: bytes) -> Publish:
    qos = (flags >> 1) & 0x03
    dup = bool(flags & _DUP)
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3 [MQTT-3.3.1-4]")
    if qos == 2:
        raise MalformedPacket("QoS 2 is not supported here")
    if qos == 0 and dup:
        raise MalformedPacket("a QoS 0 PUBLISH with DUP set [MQTT-3.3.1-2]")
    topic, offset = _read_string(body, 0)
    if not topic or "+" in topic or "#" in topic:
        raise MalformedPacket(f"{topic!r} is not a topic name [MQTT-3.3.2-2]")
    packet_id = None
    if qos:
        packet_id = _read_packet_id(body, offset)
        offset += 2
    return Publish(topic, body[offset:], qos, bool(flags & _RETAIN), dup, packet_id)


def _decode_connack(body: bytes) -> Connack:
    _expect_length(body, 2, "CONNACK")
    acknowledge, code = body
    if acknowledge & 0xFE:
        raise MalformedPacket("CONNACK's reserved flags are set [MQTT-3.2.2-1]")
    if acknowledge and code:
        raise MalformedPacket("a refusing CONNACK says session present [MQTT-3.2.2-4]")
    return Connack(bool(acknowledge), code)


def _decode_suback(body: bytes) -> Suback:
    packet_id = _read_packet_id(body, 0)
    codes = tuple(body[2:])
    if not codes:
        raise MalformedPacket("SUBACK without a return code")
    if not set(codes) <= SUBACK_CODES:
        raise MalformedPacket(f"SUBACK return codes {codes} [MQTT-3.9.3-2]")
    return Suback(packet_id, codes)


def _decode_subscribe(body: bytes) -> Subscribe:
    packet_id = _read_packet_id(body, 0)
    offset, filters = 2, []
    while offset < len(body):
        topic_filter, offset = _read_string(body, offset)
        if offset >= len(body):
            raise MalformedPacket("SUBSCRIBE ends before a filter's QoS")
        requested = body[offset]
        if requested > 2:
            raise MalformedPacket("SUBSCRIBE's QoS byte is over 2 [MQTT-3.8.3-4]")
        filters.append((topic_filter, requested))
        offset += 1
    if not filters:
        raise MalformedPacket("SUBSCRIBE without a filter [MQTT-3.8.3-3]")
    return Subscribe(packet_id, tuple(filters))


def _decode_connect(body: bytes) -> Connect:
    name, offset = _read_string(body, 0)
    if name != "MQTT" or body[offset : offset + 1] != b"\x04":
        raise MalformedPacket("not an MQTT 3.1.1 CONNECT")
    if len(body) < offset + 4:
        raise MalformedPacket("CONNECT ends inside its header")
    flags = body[offset + 1]
    (keepalive,) = _U16.unpack_from(body, offset + 2)
    if flags & 0x01:
        raise MalformedPacket("CONNECT's reserved flag is set [MQTT-3.1.2-3]")
    if flags & 0x3C:
        raise MalformedPacket("wills are not supported here")
    if flags & 0x40 and not flags & 0x80:
        raise MalformedPacket("a password without a username [MQTT-3.1.2-22]")
    client_id, offset = _read_string(body, offset + 4)
    username = password = None
    if flags & 0x80:
        username, offset = _read_string(body, offset)
    if flags & 0x40:  # binary data, not a string: any bytes round-trip
        password_bytes, offset = _read_binary(body, offset)
        password = password_bytes.decode(errors="surrogateescape")
    if offset != len(body):
        raise MalformedPacket("CONNECT has bytes after its payload")
    return Connect(client_id, username, password, int(keepalive), bool(flags & 0x02))

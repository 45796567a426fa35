"""MQTT 3.1.1 packets to bytes; ValueError for what the standard cannot carry."""

from __future__ import annotations

import struct

from backend.mqtt.packets import (
    DISCONNECT_BYTES,
    MAX_REMAINING_LENGTH,
    MAX_STRING_BYTES,
    PINGREQ_BYTES,
    PINGRESP_BYTES,
    SUBACK_CODES,
    Connack,
    Connect,
    Disconnect,
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


def encode_length(length: int) -> bytes:
    """The fixed header's "remaining length": 7 bits a byte, low bits first."""
    if length < 128:
        return bytes((length,))
    if length > MAX_REMAINING_LENGTH:
        raise ValueError(f"a packet holds at most {MAX_REMAINING_LENGTH} bytes, not {length}")
    out = bytearray()
    while length:
        byte, length = length & 0x7F, length >> 7
        out.append(byte | 0x80 if length else byte)
    return bytes(out)


def _string(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > MAX_STRING_BYTES:
        raise ValueError(f"an MQTT string holds at most {MAX_STRING_BYTES} bytes")
    return _U16.pack(len(raw)) + raw


def _packet_id(packet_id: int) -> bytes:
    if not 0 < packet_id <= 0xFFFF:
        raise ValueError(f"packet id {packet_id} is not in 1..65535")
    return _U16.pack(packet_id)


def encode_publish(
    topic: str,
    payload: bytes,
    qos: int = 0,
    packet_id: int | None = None,
    retain: bool = False,
    dup: bool = False,
) -> bytes:
    """A PUBLISH (the hot path: no intermediate objects)."""
    if not topic or "+" in topic or "#" in topic:
        raise ValueError(f"{topic!r} is not a topic name")
    first = 0x30 | (_RETAIN if retain else 0)
    if qos == 1:
        if packet_id is None:
            raise ValueError("a QoS 1 PUBLISH needs a packet id")
        first |= 0x02 | (_DUP if dup else 0)
        body = _string(topic) + _packet_id(packet_id)
    elif qos == 0:
        if dup or packet_id is not None:
            raise ValueError("a QoS 0 PUBLISH has no packet id and no DUP [MQTT-3.3.1-2]")
        body = _string(topic)
    else:
        raise ValueError(f"QoS {qos} is not supported (0 or 1)")
    return bytes((first,)) + encode_length(len(body) + len(payload)) + body + payload


def encode_puback(packet_id: int) -> bytes:
    return b"\x40\x02" + _packet_id(packet_id)


def encode(packet: Packet) -> bytes:
    """Any packet of this module as bytes; raises ValueError on what MQTT cannot carry."""
    match packet:
        case Publish(topic, payload, qos, retain, dup, packet_id):
            return encode_publish(topic, payload, qos, packet_id, retain, dup)
        case Puback(packet_id):
            return encode_puback(packet_id)
        case Connect():
            return _encode_connect(packet)
        case Connack(session_present, return_code):
            if not 0 <= return_code <= 255:
                raise ValueError(f"CONNACK return code {return_code}")
            return bytes((0x20, 2, int(session_present), return_code))
        case Subscribe(packet_id, filters):
            if not filters:
                raise ValueError("a SUBSCRIBE needs at least one filter [MQTT-3.8.3-3]")
            body = _packet_id(packet_id) + b"".join(
                _string(topic_filter) + bytes((_qos(qos),)) for topic_filter, qos in filters
            )
            return b"\x82" + encode_length(len(body)) + body
        case Suback(packet_id, codes):
            if not codes or not set(codes) <= SUBACK_CODES:
                raise ValueError(f"SUBACK return codes {codes}")
            body = _packet_id(packet_id) + bytes(codes)
            return b"\x90" + encode_length(len(body)) + body
        case Pingreq():
            return PINGREQ_BYTES
        case Pingresp():
            return PINGRESP_BYTES
        case Disconnect():
            return DISCONNECT_BYTES
    raise TypeError(f"not an MQTT packet: {packet!r}")


def _qos(qos: int) -> int:
    if qos not in (0, 1, 2):
        raise ValueError(f"QoS {qos}")
    return qos


def _encode_connect(packet: Connect) -> bytes:
    if packet.password is not None and packet.username is None:
        raise ValueError("a password needs a username [MQTT-3.1.2-22]")
    if not 0 <= packet.keepalive <= 0xFFFF:
        raise ValueError(f"keepalive {packet.keepalive} is not in 0..65535")
    flags = (0x02 if packet.clean_session else 0) | (0x80 if packet.username is not None else 0)
    payload = _string(packet.client_id)
    if packet.username is not None:
        payload += _string(packet.username)
    if packet.password is not None:
        flags |= 0x40
        password = packet.password.encode(errors="surrogateescape")
        if len(password) > MAX_STRING_BYTES:
            raise ValueError(f"a password holds at most {MAX_STRING_BYTES} bytes")
        payload += _U16.pack(len(password)) + password
    body = _string("MQTT") + bytes((4, flags)) + _U16.pack(packet.keepalive) + payload
    return b"\x10" + encode_length(len(body)) + body

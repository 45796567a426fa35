"""Reading one MQTT packet from a client, within a size limit, and checking its form.

amqtt decodes a packet field by field straight from the socket, trusting the length
the client announced: a huge length is read in full, and a packet whose fields
disagree with its length leaves the stream out of step. Here the whole packet is read
first (only if it fits the limit) and decoded from that buffer, and every rule of
MQTT 3.1.1 that amqtt leaves unchecked is checked before the broker acts on it.

PUBLISH and PUBACK, nearly every packet of a busy broker, are decoded here directly
from the buffer; amqtt's decoders (an await per field, a timestamp per packet) cost
more than routing the message. The other packets still go through amqtt's.
"""

from __future__ import annotations

import asyncio
import io
import struct
from typing import Any

from amqtt.adapters import ReaderAdapter
from amqtt.errors import AMQTTError, CodecError, MQTTError, NoDataError
from amqtt.mqtt import packet_dict
from amqtt.mqtt.packet import (
    CONNECT,
    DISCONNECT,
    PINGREQ,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    SUBSCRIBE,
    UNSUBSCRIBE,
    MQTTFixedHeader,
    PacketIdVariableHeader,
)
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.publish import PublishPacket, PublishPayload, PublishVariableHeader

from broker.acl import is_valid_topic_name

# What a client may send once connected; CONNECT only as its first packet.
_FROM_CLIENT = frozenset(
    {PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT}
)
_CONNECT_ONLY = frozenset({CONNECT})
# [MQTT-2.2.2-2]: these carry the fixed flags 0b0010, every other type but PUBLISH 0.
_FLAGS_0010 = frozenset({PUBREL, SUBSCRIBE, UNSUBSCRIBE})
_MAX_QOS = 2
_MAX_LENGTH_BYTES = 4


class ProtocolViolation(Exception):
    """The client broke MQTT: the broker closes its connection (and publishes its will)."""


class _BufferReader(ReaderAdapter):  # type: ignore[misc]  # amqtt is untyped
    """A packet's bytes, read by amqtt's decoders as if they were the socket."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)
        self._size = len(data)

    async def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)

    def feed_eof(self) -> None:
        pass

    @property
    def unread(self) -> int:
        return self._size - self._stream.tell()


async def read_packet(reader: Any, max_bytes: int, *, first: bool = False) -> Any | None:
    """The next packet from `reader`, decoded and checked; None at the end of the stream.

    `reader` is amqtt's reader adapter; over TCP its asyncio `StreamReader` is read
    directly. `first` expects the CONNECT that opens a connection, and nothing else.
    Raises `ProtocolViolation` for anything MQTT 3.1.1 forbids, an oversized packet included.
    """
    read = _exact_reader(reader)
    try:
        first_byte = (await read(1))[0]
        length, header_size = await _remaining_length(read)
        size = header_size + length
        if size > max_bytes:
            raise ProtocolViolation(f"packet of {size} bytes is over the limit of {max_bytes}")
        packet_type, flags = first_byte >> 4, first_byte & 0x0F
        if packet_type not in (_CONNECT_ONLY if first else _FROM_CLIENT):
            raise ProtocolViolation(f"packet type {packet_type} is not allowed here")
        _check_flags(packet_type, flags)
        body = await read(length) if length else b""
    except (asyncio.IncompleteReadError, NoDataError):
        return None  # the connection ended, possibly mid-packet
    fixed = MQTTFixedHeader(packet_type, flags, length)
    packet = await _decode(fixed, body)
    _check_packet(packet, packet_type)
    return packet


def _exact_reader(reader: Any) -> Any:
    """`read(n)`, returning exactly n bytes or raising at the end of the stream."""
    stream = getattr(reader, "_reader", None)  # amqtt's StreamReaderAdapter, over TCP
    if isinstance(stream, asyncio.StreamReader):
        return stream.readexactly

    async def read(n: int) -> bytes:
        data: bytes = await reader.read(n)
        if len(data) < n:
            raise NoDataError("end of stream")
        return data

    return read


async def _remaining_length(read: Any) -> tuple[int, int]:
    """The remaining length, and the size of the fixed header that carried it."""
    length, multiplier = 0, 1
    for index in range(1, _MAX_LENGTH_BYTES + 1):
        byte = (await read(1))[0]
        length += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            return length, 1 + index
        multiplier *= 128
    raise ProtocolViolation("remaining length of more than four bytes")


async def _decode(fixed: MQTTFixedHeader, body: bytes) -> Any:
    try:
        if fixed.packet_type == PUBLISH:
            return _decode_publish(fixed, body)
        if fixed.packet_type == PUBACK:
            if len(body) != 2:  # a packet id, nothing else
                raise ProtocolViolation(f"PUBACK of {len(body)} bytes")
            return PubackPacket(fixed, PacketIdVariableHeader(struct.unpack("!H", body)[0]))
        buffer = _BufferReader(body)
        packet = await packet_dict[fixed.packet_type].from_stream(buffer, fixed_header=fixed)
        if buffer.unread:
            # Fields that do not add up to the announced length.
            raise ProtocolViolation(f"{buffer.unread} bytes left over in packet")
        return packet
    except (AMQTTError, CodecError, MQTTError, NoDataError, ValueError, struct.error) as error:
        raise ProtocolViolation(f"malformed packet: {error!r}") from error


def _decode_publish(fixed: MQTTFixedHeader, body: bytes) -> PublishPacket:
    (topic_length,) = struct.unpack_from("!H", body)
    offset = 2 + topic_length
    if offset > len(body):
        raise ProtocolViolation("PUBLISH topic longer than the packet")
    topic = body[2:offset].decode("utf-8")  # [MQTT-1.5.3-1]: malformed UTF-8 is a violation
    packet_id = None
    if fixed.flags & 0x06:
        if offset + 2 > len(body):
            raise ProtocolViolation("PUBLISH without its packet id")
        (packet_id,) = struct.unpack_from("!H", body, offset)
        offset += 2
    # PublishVariableHeader raises MQTTError on a wildcard: reported as malformed.
    return PublishPacket(
        fixed, PublishVariableHeader(topic, packet_id), PublishPayload(body[offset:])
    )


def _check_flags(packet_type: int, flags: int) -> None:
    if packet_type == PUBLISH:
        if (flags >> 1) & 0x03 > _MAX_QOS:
            raise ProtocolViolation("PUBLISH with QoS 3")
        return
    expected = 0b0010 if packet_type in _FLAGS_0010 else 0
    if flags != expected:
        raise ProtocolViolation(f"packet type {packet_type} with flags {flags:#06b}")


def _check_packet(packet: Any, packet_type: int) -> None:
    if packet_type == PUBLISH:
        # [MQTT-4.7.3-1] not empty, [MQTT-3.3.2-2] no wildcards, [MQTT-2.3.1-1] an id for QoS>0.
        if not is_valid_topic_name(packet.topic_name or ""):
            raise ProtocolViolation(f"PUBLISH to invalid topic {packet.topic_name!r}")
        if packet.qos and not packet.packet_id:
            raise ProtocolViolation("PUBLISH QoS>0 without a packet id")
    elif packet_type == SUBSCRIBE:
        topics = packet.payload.topics if packet.payload is not None else []
        # [MQTT-3.8.3-3] at least one filter; [MQTT-3.8.3-4] QoS 0-2, reserved bits 0.
        if not topics:
            raise ProtocolViolation("SUBSCRIBE without topic filters")
        if any(qos > _MAX_QOS for _, qos in topics):
            raise ProtocolViolation("SUBSCRIBE with a QoS above 2")
    elif packet_type == UNSUBSCRIBE:
        if packet.payload is None or not packet.payload.topics:  # [MQTT-3.10.3-2]
            raise ProtocolViolation("UNSUBSCRIBE without topic filters")
    elif packet_type == CONNECT:
        _check_connect(packet)


def _check_connect(connect: Any) -> None:
    header = connect.variable_header
    if header.reserved_flag:  # [MQTT-3.1.2-3]
        raise ProtocolViolation("CONNECT reserved flag set")
    if connect.proto_name != "MQTT":  # [MQTT-3.1.2-1]
        raise ProtocolViolation(f"unknown protocol name {connect.proto_name!r}")
    if header.will_flag:
        if header.will_qos > _MAX_QOS:  # [MQTT-3.1.2-14]
            raise ProtocolViolation("will with QoS 3")
        if connect.payload.will_topic is None or connect.payload.will_message is None:
            raise ProtocolViolation("will flag set without a will")
    elif header.will_qos or header.will_retain_flag:  # [MQTT-3.1.2-13], [MQTT-3.1.2-15]
        raise ProtocolViolation("will QoS or retain set without a will")
    if header.password_flag and not header.username_flag:  # [MQTT-3.1.2-22]
        raise ProtocolViolation("password without a user name")


def encode_publish(
    topic: str, payload: bytes, qos: int, packet_id: int | None, *, retain: bool, dup: bool = False
) -> bytes:
    """A PUBLISH packet's bytes, as amqtt's `PublishPacket.build(...).to_bytes()` makes them."""
    topic_bytes = topic.encode("utf-8")
    variable = struct.pack("!H", len(topic_bytes)) + topic_bytes
    if qos:
        variable += struct.pack("!H", packet_id)
    first_byte = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    return bytes([first_byte]) + _encode_length(len(variable) + len(payload)) + variable + payload


def encode_ack(packet_type: int, packet_id: int) -> bytes:
    """PUBACK, PUBREC or PUBCOMP (flags 0) for `packet_id`."""
    return bytes([packet_type << 4, 2]) + struct.pack("!H", packet_id)


def _encode_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(encoded)

"""Reading one MQTT packet from a client, within a size limit, and checking its form.

amqtt decodes a packet field by field straight from the socket, trusting the length
the client announced: a huge length is read in full, and a packet whose fields
disagree with its length leaves the stream out of step. Here the whole packet is read
first (only if it fits the limit) and decoded from that buffer, and every rule of
MQTT 3.1.1 that amqtt leaves unchecked is checked before the broker acts on it.
"""

from __future__ import annotations

import io
from typing import Any

from amqtt.adapters import ReaderAdapter
from amqtt.codecs_amqtt import read_or_raise
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
)

from broker.acl import is_valid_topic_name

# What a client may send once connected; CONNECT only as its first packet.
_FROM_CLIENT = frozenset(
    {PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT}
)
# [MQTT-2.2.2-2]: these carry the fixed flags 0b0010, every other type but PUBLISH 0.
_FLAGS_0010 = frozenset({PUBREL, SUBSCRIBE, UNSUBSCRIBE})
_MAX_QOS = 2


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

    `first` expects the CONNECT that opens a connection, and nothing else.
    Raises `ProtocolViolation` for anything MQTT 3.1.1 forbids, an oversized packet included.
    """
    try:
        fixed = await MQTTFixedHeader.from_stream(reader)
    except MQTTError as error:  # a remaining length of more than four bytes
        raise ProtocolViolation(str(error)) from error
    if fixed is None:
        return None
    size = fixed.bytes_length + fixed.remaining_length
    if size > max_bytes:
        raise ProtocolViolation(f"packet of {size} bytes is over the limit of {max_bytes}")
    allowed = {CONNECT} if first else _FROM_CLIENT
    if fixed.packet_type not in allowed:
        raise ProtocolViolation(f"packet type {fixed.packet_type} is not allowed here")
    _check_flags(fixed)
    try:
        body = await read_or_raise(reader, fixed.remaining_length)
    except NoDataError:
        return None  # the connection ended mid-packet
    buffer = _BufferReader(body)
    try:
        packet = await packet_dict[fixed.packet_type].from_stream(buffer, fixed_header=fixed)
    except (AMQTTError, CodecError, MQTTError, NoDataError, ValueError) as error:
        raise ProtocolViolation(f"malformed packet: {error!r}") from error
    if buffer.unread:
        # Fields that do not add up to the announced length (a bad UTF-8 topic, say).
        raise ProtocolViolation(f"{buffer.unread} bytes left over in packet")
    _check_packet(packet, fixed.packet_type)
    return packet


def _check_flags(fixed: Any) -> None:
    if fixed.packet_type == PUBLISH:
        if (fixed.flags >> 1) & 0x03 > _MAX_QOS:
            raise ProtocolViolation("PUBLISH with QoS 3")
        return
    expected = 0b0010 if fixed.packet_type in _FLAGS_0010 else 0
    if fixed.flags != expected:
        raise ProtocolViolation(f"packet type {fixed.packet_type} with flags {fixed.flags:#06b}")


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

"""A TCP relay between an MQTT client and the real broker that can lose chosen acks.

It forwards whole MQTT packets both ways. When told to, it drops the next server-to-client
PUBLISH on an `in/ack` topic and answers the broker's QoS 1 with a PUBACK of its own, so
the broker believes the ack delivered: exactly what a client sees when an ack is lost.
Nothing about the broker is mocked; the relay only sits on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from tests.support.relay import LoopbackRelay

PUBLISH = 3
PUBACK = 4


async def read_packet(reader: asyncio.StreamReader) -> bytes:
    """One MQTT packet: fixed header byte, remaining length (varint), body."""
    header = await reader.readexactly(1)
    length_bytes = b""
    length = 0
    for shift in range(0, 28, 7):
        byte = await reader.readexactly(1)
        length_bytes += byte
        length |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            break
    return header + length_bytes + await reader.readexactly(length)


def publish_topic_and_id(packet: bytes) -> tuple[str, bytes | None] | None:
    """The topic and packet id (None at QoS 0) of a PUBLISH packet; None for other packets."""
    if packet[0] >> 4 != PUBLISH:
        return None
    offset = 1
    while packet[offset] & 0x80:
        offset += 1
    offset += 1
    topic_length = int.from_bytes(packet[offset : offset + 2], "big")
    topic = packet[offset + 2 : offset + 2 + topic_length].decode()
    qos = (packet[0] >> 1) & 0x03
    packet_id_at = offset + 2 + topic_length
    return topic, packet[packet_id_at : packet_id_at + 2] if qos else None


class AckDroppingProxy(LoopbackRelay):
    """`async with AckDroppingProxy(broker_port) as proxy:` then connect to `proxy.port`."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port)
        self.acks_to_drop = 0
        self.dropped: list[str] = []
        self.dropped_one = asyncio.Event()

    def pumps(
        self,
        client_in: asyncio.StreamReader,
        client_out: asyncio.StreamWriter,
        broker_in: asyncio.StreamReader,
        broker_out: asyncio.StreamWriter,
    ) -> list[Coroutine[Any, Any, None]]:
        return [
            self._pump(client_in, broker_out, None),
            self._pump(broker_in, client_out, broker_out),
        ]

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        to_broker: asyncio.StreamWriter | None,
    ) -> None:
        while True:
            packet = await read_packet(source)
            if to_broker is not None and self._drop(packet, to_broker):
                continue
            sink.write(packet)
            await sink.drain()

    def _drop(self, packet: bytes, to_broker: asyncio.StreamWriter) -> bool:
        publish = publish_topic_and_id(packet)
        if publish is None or self.acks_to_drop == 0 or not publish[0].endswith("/in/ack"):
            return False
        topic, packet_id = publish
        self.acks_to_drop -= 1
        self.dropped.append(topic)
        if packet_id is not None:
            to_broker.write(bytes([PUBACK << 4, 2]) + packet_id)
        self.dropped_one.set()
        return True

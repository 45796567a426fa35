"""A TCP relay between an MQTT client and the real broker that can lose chosen acks.

It forwards whole MQTT packets both ways. When told to, it drops the next server-to-client
PUBLISH on an `in/ack` topic and answers the broker's QoS 1 with a PUBACK of its own, so
the broker believes the ack delivered: exactly what a client sees when an ack is lost.
Nothing about the broker is mocked; the relay only sits on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.server import HOST

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


class AckDroppingProxy:
    """`async with AckDroppingProxy(broker_port) as proxy:` then connect to `proxy.port`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.acks_to_drop = 0
        self.dropped: list[str] = []
        self.dropped_one = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> AckDroppingProxy:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for relay in list(self._relays):
            relay.cancel()
        for relay in list(self._relays):
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        await self._server.wait_closed()

    async def _accept(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            try:
                broker_in, broker_out = await asyncio.open_connection(HOST, self.upstream_port)
            except OSError:
                return  # the broker is down: the client sees the connection close
            try:
                async with asyncio.TaskGroup() as pumps:
                    pumps.create_task(self._pump(client_in, broker_out, None))
                    pumps.create_task(self._pump(broker_in, client_out, broker_out))
            except* (OSError, asyncio.IncompleteReadError):
                pass  # either side hung up
            finally:
                broker_out.close()
        finally:
            client_out.close()
            self._relays.discard(task)

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

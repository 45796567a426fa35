"""A minimal MQTT 3.1.1 client over an asyncio `Protocol`: the load generator's side.

paho runs a thread per client and aiomqtt a handful of tasks; 10,000 of either would
measure the load generator, not the broker. This client is a protocol object with a
byte buffer and a few futures: no task, no thread. It acknowledges QoS 1 PUBLISHes
itself and hands each PUBLISH, PUBACK and the connection's end to callbacks.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from collections.abc import Callable

from tests.broker.raw import HOST, connect_packet, packet, publish_packet, subscribe_packet

CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP = 2, 3, 4, 9, 13
PINGREQ_BYTES = bytes([0xC0, 0])

OnPublish = Callable[[str, bytes], None]
OnPuback = Callable[[int], None]


class BenchError(RuntimeError):
    """The broker refused or dropped something a scenario needs."""


class WireClient(asyncio.Protocol):
    """One MQTT connection. Open with `await open_client(...)`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.on_publish: OnPublish | None = None
        self.on_puback: OnPuback | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()
        # Replies the client waits for, per packet type, in the order they were asked.
        self._waiting: dict[int, deque[asyncio.Future[bytes]]] = {}

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (parsed := _split_packet(self._buffer)) is not None:
            first_byte, body, size = parsed
            del self._buffer[:size]
            self._dispatch(first_byte, body)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        for waiters in self._waiting.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(BenchError("connection closed by the broker"))
        self._waiting.clear()

    # requests

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def request(self, data: bytes, reply_type: int, timeout: float) -> bytes:
        """Send `data` and wait for the next packet of `reply_type`; its body."""
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(reply_type, deque()).append(waiter)
        self.send(data)
        async with asyncio.timeout(timeout):
            return await waiter

    async def subscribe(self, topic_filter: str, timeout: float = 30.0) -> None:
        body = await self.request(subscribe_packet(1, [(topic_filter, 1)]), SUBACK, timeout)
        if body[2] == 0x80:
            raise BenchError(f"subscription to {topic_filter!r} refused")

    def publish(self, topic: str, payload: bytes, packet_id: int) -> None:
        """PUBLISH at QoS 1; the PUBACK goes to `on_puback`."""
        self.send(publish_packet(topic, payload, 1, packet_id))

    async def ping(self, timeout: float = 30.0) -> None:
        await self.request(PINGREQ_BYTES, PINGRESP, timeout)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _dispatch(self, first_byte: int, body: bytes) -> None:
        packet_type = first_byte >> 4
        if packet_type == PUBLISH:
            self._received_publish(first_byte, body)
            return
        if packet_type == PUBACK and self.on_puback is not None:
            self.on_puback(struct.unpack_from("!H", body)[0])
            return
        waiters = self._waiting.get(packet_type)
        if waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(body)

    def _received_publish(self, first_byte: int, body: bytes) -> None:
        qos = (first_byte >> 1) & 0x03
        topic_length = struct.unpack_from("!H", body)[0]
        topic = body[2 : 2 + topic_length].decode()
        offset = 2 + topic_length
        if qos:
            self.send(packet(0x40, body[offset : offset + 2]))
            offset += 2
        if self.on_publish is not None:
            self.on_publish(topic, body[offset:])


def _split_packet(buffer: bytearray) -> tuple[int, bytes, int] | None:
    """(first byte, body, bytes used) of the packet at the start of `buffer`, if complete."""
    length, multiplier = 0, 1
    for index in range(1, 5):
        if index >= len(buffer):
            return None
        byte = buffer[index]
        length += (byte & 0x7F) * multiplier
        multiplier *= 128
        if not byte & 0x80:
            end = index + 1 + length
            if len(buffer) < end:
                return None
            return buffer[0], bytes(buffer[index + 1 : end]), end
    raise BenchError("malformed remaining length from the broker")


async def open_client(
    port: int,
    client_id: str,
    username: str,
    password: str,
    *,
    clean: bool = True,
    keepalive: int = 600,
    timeout: float = 30.0,
) -> WireClient:
    """Connect and wait for CONNACK; raises `BenchError` when refused."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        _, client = await loop.create_connection(WireClient, HOST, port)
    try:
        connect = connect_packet(client_id, username, password, clean=clean, keepalive=keepalive)
        body = await client.request(connect, CONNACK, timeout)
    except BaseException:
        client.close()
        raise
    if body[1] != 0:
        client.close()
        raise BenchError(f"CONNECT of {client_id!r} refused with {body[1]}")
    return client

"""A persistent MQTT session over a bare asyncio stream, read only when the test says so.

For the clients no library lets us write: one that stops reading its socket (a slow
consumer: the broker's writes pile up in TCP buffers and its queue), and one that
connects and drops in a tight loop. Packets are MQTT 3.1.1, QoS 1 at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import Callable
from typing import Any

from tests.support.raw_mqtt import connect_packet, publish_packet
from tests.support.server import HOST

CONNACK, PUBLISH, PUBACK, SUBACK = 2, 3, 4, 9
DISCONNECT = b"\xe0\x00"


def _length(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def subscribe_packet(topic_filter: str, packet_id: int) -> bytes:
    raw = topic_filter.encode()
    body = struct.pack("!H", packet_id) + struct.pack("!H", len(raw)) + raw + b"\x01"
    return b"\x82" + _length(len(body)) + body


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    """(type, flags, body) of the next packet."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first >> 4, first & 0x0F, await reader.readexactly(length)


class RawSession:
    """`await RawSession.open(port, user, token)`; then `subscribe`, `publish`, `read_until`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._packet_id = 0

    @classmethod
    async def open(
        cls, port: int, user: str, token: str, *, client_id: str | None = None, keepalive: int = 60
    ) -> RawSession:
        """Connect (persistent session) and wait for CONNACK 0."""
        reader, writer = await asyncio.open_connection(HOST, port)
        session = cls(reader, writer)
        writer.write(connect_packet(client_id or user, user, token, keepalive))
        kind, _, body = await read_packet(reader)
        assert kind == CONNACK and body[1] == 0, (kind, body)
        return session

    def _next_id(self) -> int:
        self._packet_id = self._packet_id % 65535 + 1
        return self._packet_id

    async def subscribe(self, topic_filter: str) -> None:
        """Subscribe at QoS 1 and wait for the SUBACK (nothing else may come first)."""
        self.writer.write(subscribe_packet(topic_filter, self._next_id()))
        kind, _, body = await read_packet(self.reader)
        assert kind == SUBACK and body[2] == 1, (kind, body)

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """A QoS 1 PUBLISH; its PUBACK is read (and skipped) by `read_until`."""
        self.writer.write(publish_packet(topic, json.dumps(payload).encode(), self._next_id()))

    async def next_publication(self) -> tuple[str, dict[str, Any]]:
        """The next PUBLISH (PUBACKed if QoS 1), other packets skipped: (topic, payload)."""
        while True:
            kind, flags, body = await read_packet(self.reader)
            if kind != PUBLISH:
                continue
            (topic_length,) = struct.unpack_from("!H", body)
            topic = body[2 : 2 + topic_length].decode()
            offset = 2 + topic_length
            if flags & 0x06:  # QoS 1
                self.writer.write(bytes([PUBACK << 4, 2]) + body[offset : offset + 2])
                offset += 2
            return topic, json.loads(body[offset:])

    async def read_until(
        self, done: Callable[[str, dict[str, Any]], bool]
    ) -> list[tuple[str, dict[str, Any]]]:
        """Read every publication until `done(topic, payload)` is true for one; returns
        them all, that one included."""
        received: list[tuple[str, dict[str, Any]]] = []
        while True:
            topic, payload = await self.next_publication()
            received.append((topic, payload))
            if done(topic, payload):
                return received

    async def close(self, *, clean: bool = True) -> None:
        """DISCONNECT and close (or just close: a connection that drops)."""
        if clean:
            self.writer.write(DISCONNECT)
        self.writer.close()
        with contextlib.suppress(OSError):  # the broker closed first
            await self.writer.wait_closed()

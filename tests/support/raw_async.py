"""Raw MQTT 3.1.1 over asyncio streams: hand-made (and broken) packets against a real server.

The packet builders are `tests.broker.raw`'s; this adds a connection that reads and waits
without blocking the event loop, so that well-behaved clients keep running beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from tests.broker.raw import connect_packet

HOST = "127.0.0.1"
WAIT_S = 5.0
CONNACK = 0x20


class RawConnection:
    """One socket to the broker, speaking whatever bytes the test writes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def read_packet(self, timeout: float = WAIT_S) -> tuple[int, bytes] | None:
        """The next packet as (first byte, body); None once the broker closed the socket.

        Raises TimeoutError when nothing comes within `timeout`.
        """
        try:
            async with asyncio.timeout(timeout):
                head = await self.reader.readexactly(1)
                length, multiplier = 0, 1
                for _ in range(4):
                    byte = (await self.reader.readexactly(1))[0]
                    length += (byte & 0x7F) * multiplier
                    multiplier *= 128
                    if not byte & 0x80:
                        break
                return head[0], await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def connect(self, *args: Any, **kwargs: Any) -> int:
        """Send a CONNECT (`tests.broker.raw.connect_packet` arguments); the CONNACK's code."""
        await self.send(connect_packet(*args, **kwargs))
        received = await self.read_packet()
        assert received is not None, "closed instead of answering the CONNECT"
        first_byte, body = received
        assert first_byte == CONNACK, f"expected CONNACK, got {first_byte:#x}"
        return body[1]

    async def packets_until_closed(self, timeout: float = WAIT_S) -> list[tuple[int, bytes]]:
        """Every packet the broker sends before closing the socket, which it must do within
        `timeout` (an AssertionError if it does not)."""
        received: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                item = await self.read_packet(max(left, 0.001))
            except TimeoutError:
                raise AssertionError(
                    f"still open after {timeout} s; received {[hex(b) for b, _ in received]}"
                ) from None
            if item is None:
                return received
            received.append(item)

    async def closed_or_answered(
        self, answer: Callable[[int, bytes], bool], within_s: float = 10
    ) -> bool:
        """Whether the broker closes the socket, or sends a packet `answer` accepts, in time."""
        deadline = time.monotonic() + within_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                received = await self.read_packet(timeout=left)
            except TimeoutError:
                return False
            if received is None or answer(*received):
                return True
        return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def refused_or_silent(received: list[tuple[int, bytes]]) -> bool:
    """Whether a closed connection got nothing, or only a CONNACK that refused it."""
    return all(first == CONNACK and body[1] != 0 for first, body in received)


def is_pingresp(first_byte: int, _: bytes) -> bool:
    return first_byte == 0xD0


def is_too_large_ack(first_byte: int, body: bytes) -> bool:
    """A PUBLISH on someone's `in/ack` refusing a request as too large."""
    return first_byte & 0xF0 == 0x30 and b"/in/ack" in body and b"too_large" in body

"""A bare MQTT 3.1.1 client: CONNECT, SUBSCRIBE, QoS 1 PUBLISH and PUBACK, PINGREQ.

Why not paho: relaying one QoS 1 message costs the broker about 60 us of CPU, and paho
about 70 us for its two ends (publisher and subscriber), so with paho the raw relay
would measure the generator; in the load phases paho takes a share of two cores that
the server could use (`--client raw` gives it back). This client parses from one buffer and
writes everything produced in one turn of the event loop with one `send`.
Nothing else of MQTT is here: no QoS 2, no retained, no reconnect.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

from clients.bench.mqtt import HOST, MqttFailure

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 0x10, 0x20, 0x30, 0x40, 0x82, 0x90
PINGREQ = b"\xc0\x00"
KEEPALIVE_S = 60
PING_INTERVAL_S = KEEPALIVE_S / 2


def encode_length(length: int) -> bytes:
    """MQTT's variable-length "remaining length"."""
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def packet(first_byte: int, body: bytes) -> bytes:
    """A whole packet: fixed header, then `body`."""
    return bytes([first_byte]) + encode_length(len(body)) + body


def connect_packet(
    client_id: str,
    username: str,
    password: str,
    *,
    clean: bool = True,
    will: tuple[str, bytes] | None = None,
) -> bytes:
    """CONNECT, MQTT 3.1.1, with username and password; `will` is (topic, payload),
    sent at QoS 1 and not retained."""
    flags = 0x80 | 0x40 | (0x02 if clean else 0) | (0x04 | 0x08 if will else 0)
    header = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", KEEPALIVE_S)
    will_fields = _string(will[0]) + _string(will[1]) if will else b""
    return packet(
        CONNECT,
        header + _string(client_id) + will_fields + _string(username) + _string(password),
    )


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """PUBLISH at QoS 1."""
    return packet(PUBLISH | 0x02, _string(topic) + struct.pack("!H", packet_id) + payload)


def split_packets(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take every whole packet off the front of `buffer`: `(first byte, body)` each."""
    packets: list[tuple[int, bytes]] = []
    offset = 0
    while True:
        length, multiplier, index = 0, 1, offset + 1
        while index < len(buffer):
            byte = buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
        else:
            break  # the length is not all here yet
        if index + length > len(buffer):
            break
        packets.append((buffer[offset], bytes(buffer[index : index + length])))
        offset = index + length
    del buffer[:offset]
    return packets


class RawClient(asyncio.Protocol):
    """One connection. `on_message(topic, payload)` per PUBLISH, `on_acked()` per PUBACK."""

    def __init__(
        self,
        client_id: str,
        username: str,
        password: str,
        on_message: Callable[[str, bytes], None] | None = None,
        on_acked: Callable[[], None] | None = None,
        *,
        clean: bool = True,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        self.client_id = client_id
        self._credentials = (username, password)
        self._clean, self._will = clean, will
        self.lost: str | None = None
        self._closing = False
        self._pinger: asyncio.TimerHandle | None = None
        self._on_message = on_message
        self._on_acked = on_acked
        self._buffer = bytearray()
        self._corked = bytearray()
        self._transport: asyncio.Transport | None = None
        self._next_id = 0
        self._loop = asyncio.get_running_loop()
        self._answer: asyncio.Future[bytes] = self._loop.create_future()

    async def connect(self, port: int) -> None:
        """Connect to 127.0.0.1 and wait for CONNACK 0 (unbounded: wrap in a timeout)."""
        await self._loop.create_connection(lambda: self, HOST, port)
        self._write(
            connect_packet(
                self.client_id,
                *self._credentials,
                clean=self._clean,
                will=self._will,
            )
        )
        code = (await self._expect(CONNACK))[1]
        if code != 0:
            raise MqttFailure(f"{self.client_id}: CONNACK {code}")
        self._pinger = self._loop.call_later(PING_INTERVAL_S, self._ping)

    async def subscribe(self, topic_filter: str) -> None:
        """Subscribe at QoS 1; fails unless granted."""
        body = struct.pack("!H", self._packet_id()) + _string(topic_filter) + b"\x01"
        self._write(packet(SUBSCRIBE, body))
        granted = (await self._expect(SUBACK))[2:]
        if any(code & 0x80 for code in granted):
            raise MqttFailure(f"SUBACK refused {topic_filter!r}")

    def publish(self, topic: str, payload: bytes) -> None:
        """Send a QoS 1 PUBLISH (with whatever else is written this turn)."""
        self._write(publish_packet(topic, payload, self._packet_id()))

    def close(self) -> None:
        """DISCONNECT and close."""
        self._closing = True
        if self._pinger is not None:
            self._pinger.cancel()
        if self._transport is not None and not self._transport.is_closing():
            self._write(b"\xe0\x00")
            self._flush()
            self._transport.close()

    def connection_made(self, transport: Any) -> None:
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        if self.lost is None and not self._closing:
            self.lost = f"{self.client_id}: connection lost ({exc!r})"
        if self._answer.done():
            return
        if self.lost is None:
            self._answer.cancel()  # closed on purpose: nobody waits for an answer
        else:
            self._answer.set_exception(MqttFailure(self.lost))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for first_byte, body in split_packets(self._buffer):
            kind = first_byte & 0xF0
            if kind == PUBLISH:
                self._received(first_byte, body)
            elif kind == PUBACK:
                if self._on_acked is not None:
                    self._on_acked()
            elif not self._answer.done():
                self._answer.set_result(bytes([first_byte]) + body)

    def _received(self, first_byte: int, body: bytes) -> None:
        (topic_length,) = struct.unpack_from("!H", body)
        topic = body[2 : 2 + topic_length].decode()
        offset = 2 + topic_length
        if first_byte & 0x06:  # QoS 1: acknowledge
            self._write(packet(PUBACK, body[offset : offset + 2]))
            offset += 2
        if self._on_message is not None:
            self._on_message(topic, body[offset:])

    async def _expect(self, kind: int) -> bytes:
        answer = await self._answer
        self._answer = self._loop.create_future()
        if answer[0] & 0xF0 != kind:
            raise MqttFailure(f"expected packet type {kind:#x}, got {answer[0]:#x}")
        return answer

    def _ping(self) -> None:
        # A quiet connection (a user nobody writes to) must still show it is alive.
        self._write(PINGREQ)
        self._pinger = self._loop.call_later(PING_INTERVAL_S, self._ping)

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65_535 + 1
        return self._next_id

    def _write(self, data: bytes) -> None:
        if not self._corked:
            self._loop.call_soon(self._flush)
        self._corked += data

    def _flush(self) -> None:
        if self._corked and self._transport is not None and not self._transport.is_closing():
            self._transport.write(bytes(self._corked))
        self._corked.clear()

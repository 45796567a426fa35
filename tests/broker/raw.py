"""Raw MQTT 3.1.1 over a bare socket, for what paho refuses to send (or to receive)."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

HOST = "127.0.0.1"
WAIT_S = 5.0


def _string(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def _remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _remaining_length(len(body)) + body


def connect_packet(
    client_id: str,
    username: str | None = None,
    password: str | None = None,
    *,
    clean: bool = True,
    keepalive: int = 60,
    will: tuple[str, bytes, int] | None = None,
    level: int = 4,
) -> bytes:
    flags = 0x02 if clean else 0
    payload = _string(client_id)
    if will is not None:
        flags |= 0x04 | (will[2] << 3)
        payload += _string(will[0]) + _string(will[1])
    if username is not None:
        flags |= 0x80
        payload += _string(username)
    if password is not None:
        flags |= 0x40
        payload += _string(password)
    header = _string("MQTT") + bytes([level, flags]) + struct.pack("!H", keepalive)
    return packet(0x10, header + payload)


def subscribe_packet(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    body = struct.pack("!H", packet_id)
    for topic_filter, qos in filters:
        body += _string(topic_filter) + bytes([qos])
    return packet(0x82, body)


def publish_packet(topic: str, payload: bytes, qos: int = 0, packet_id: int = 1) -> bytes:
    body = _string(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return packet(0x30 | (qos << 1), body)


def connack(port: int, *args: Any, **kwargs: Any) -> int:
    """Open a socket, send a CONNECT (`connect_packet` arguments), close; the CONNACK code."""
    client = RawClient(port)
    try:
        return client.connect(*args, **kwargs)
    finally:
        client.close()


class RawClient:
    """A bare TCP socket speaking hand-made MQTT."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=WAIT_S)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def connect(self, *args: Any, **kwargs: Any) -> int:
        """Send a CONNECT built by `connect_packet`; the CONNACK's return code."""
        self.send(connect_packet(*args, **kwargs))
        received = self.read_packet()
        assert received is not None, "closed instead of CONNACK"
        first_byte, body = received
        assert first_byte == 0x20, f"expected CONNACK, got {first_byte:#x}"
        return body[1]

    def read_packet(self, timeout: float = WAIT_S) -> tuple[int, bytes] | None:
        """The next packet as (first byte, body), or None when the broker closed the socket."""
        self.sock.settimeout(timeout)
        try:
            head = self._read(1)
            if not head:
                return None
            length, multiplier = 0, 1
            for _ in range(4):
                byte = self._read(1)[0]
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                if not byte & 0x80:
                    break
            return head[0], self._read(length)
        except (ConnectionResetError, IndexError):
            return None

    def closed_by_broker(self, timeout: float = WAIT_S) -> bool:
        """True when the broker closes the socket within `timeout` (packets before are skipped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                if self.read_packet(left) is None:
                    return True
            except TimeoutError:
                return False
        return False

    def close(self) -> None:
        self.sock.close()

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                return data
            data += chunk
        return data

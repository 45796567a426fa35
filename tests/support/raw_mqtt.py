"""A bare MQTT 3.1.1 CONNECT over a plain socket: for clients that vanish without a word."""

from __future__ import annotations

import socket
import struct

HOST = "127.0.0.1"


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack("!H", len(data)) + data


def _remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def connect_packet(
    client_id: str, user: str, token: str, keepalive: int, will: tuple[str, bytes] | None = None
) -> bytes:
    flags = 0x80 | 0x40  # username, password; clean session 0
    payload = _string(client_id)
    if will is not None:
        flags |= 0x04 | 0x08  # will, will QoS 1
        payload += _string(will[0]) + struct.pack("!H", len(will[1])) + will[1]
    payload += _string(user) + _string(token)
    variable = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive)
    body = variable + payload
    return bytes([0x10]) + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH."""
    body = _string(topic) + struct.pack("!H", packet_id) + payload
    return bytes([0x32]) + _remaining_length(len(body)) + body


def open_silent_client(
    port: int, user: str, token: str, keepalive: int, will: tuple[str, bytes] | None = None
) -> socket.socket:
    """Connect, read the CONNACK, announce `online` as the contract asks, then never send
    again: a client whose network vanished."""
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.sendall(connect_packet(user, user, token, keepalive, will))
    connack = sock.recv(4)
    assert connack[:2] == b"\x20\x02" and connack[3] == 0, connack
    sock.sendall(publish_packet(f"chat/u/{user}/presence", b'{"state":"online"}', 1))
    return sock

"""MQTT 3.1.1 packets as values: what the backend's client speaks, in both directions.

CONNECT, CONNACK, SUBSCRIBE, SUBACK, PUBLISH (QoS 0 and 1), PUBACK, PINGREQ, PINGRESP
and DISCONNECT. `encode` turns them into bytes, `decode.Decoder` bytes back into them;
both directions are here so that every packet round-trips in tests. Nothing else of
MQTT: no QoS 2, no wills, no UNSUBSCRIBE.
"""

from __future__ import annotations

from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14
MAX_REMAINING_LENGTH = 268_435_455  # four length bytes
MAX_STRING_BYTES = 65_535
SUBACK_CODES = frozenset({0, 1, 2, 0x80})


class MalformedPacket(ValueError):
    """Bytes that are not a valid MQTT 3.1.1 packet of a kind this codec knows."""


@dataclass(frozen=True, slots=True)
class Connect:
    client_id: str
    username: str | None = None
    password: str | None = None
    keepalive: int = 60
    clean_session: bool = True


@dataclass(frozen=True, slots=True)
class Connack:
    session_present: bool
    return_code: int


@dataclass(frozen=True, slots=True)
class Publish:
    """An application message; `packet_id` is None at QoS 0."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None


@dataclass(frozen=True, slots=True)
class Puback:
    packet_id: int


@dataclass(frozen=True, slots=True)
class Subscribe:
    packet_id: int
    filters: tuple[tuple[str, int], ...]  # (topic filter, requested QoS)


@dataclass(frozen=True, slots=True)
class Suback:
    packet_id: int
    return_codes: tuple[int, ...]  # the granted QoS per filter, or 0x80: refused


@dataclass(frozen=True, slots=True)
class Pingreq:
    pass


@dataclass(frozen=True, slots=True)
class Pingresp:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    pass


Packet = Connect | Connack | Publish | Puback | Subscribe | Suback | Pingreq | Pingresp | Disconnect

PINGREQ_BYTES = b"\xc0\x00"
PINGRESP_BYTES = b"\xd0\x00"
DISCONNECT_BYTES = b"\xe0\x00"

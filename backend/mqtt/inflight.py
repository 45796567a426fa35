"""QoS 1 bookkeeping of one MQTT session, both ways, without I/O.

- `Unacked`: our PUBLISHes the broker has not PUBACKed yet, in the order they were
  sent, by packet id. It outlives a connection: the next one sends them again, DUP set
  and in their first order [MQTT-4.4.0-1] [MQTT-4.6.0-1].
- `AckQueue`: PUBLISHes received and not yet PUBACKed. The caller says when it is done
  with each; PUBACKs still go out in the order the PUBLISHes came [MQTT-4.6.0-2], so a
  message finished early waits for the ones before it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container

from backend.mqtt.encode import encode_publish

MAX_PACKET_ID = 0xFFFF
_DUP = 0x08


def next_free_id(last: int, in_use: Container[int]) -> int:
    """The first packet id after `last` (1..65535, wrapping) that is not `in_use`."""
    candidate = last
    for _ in range(MAX_PACKET_ID):
        candidate = candidate % MAX_PACKET_ID + 1
        if candidate not in in_use:
            return candidate
    raise RuntimeError("all 65,535 packet ids are in use")


class Unacked:
    """Our QoS 1 publications awaiting their PUBACK, as encoded packets."""

    def __init__(self) -> None:
        self._packets: dict[int, bytes] = {}  # insertion order is send order
        self._last_id = 0

    def __len__(self) -> int:
        return len(self._packets)

    def __contains__(self, packet_id: object) -> bool:
        return packet_id in self._packets

    def next_id(self, also_in_use: Container[int] = ()) -> int:
        """A packet id that no unacknowledged publication (nor `also_in_use`) holds."""
        packets = self._packets
        candidate = self._last_id % MAX_PACKET_ID + 1
        if candidate in packets or candidate in also_in_use:
            candidate = next_free_id(candidate, _Either(packets, also_in_use))
        self._last_id = candidate
        return candidate

    def add(self, topic: str, payload: bytes, retain: bool = False) -> bytes:
        """A new QoS 1 PUBLISH, remembered until acknowledged; returns its bytes."""
        packet_id = self.next_id()
        packet = encode_publish(topic, payload, 1, packet_id, retain)
        self._packets[packet_id] = packet
        return packet

    def acknowledged(self, packet_id: int) -> bool:
        """Forget a publication the broker PUBACKed; False if none had that id."""
        return self._packets.pop(packet_id, None) is not None

    def for_resend(self) -> bytes:
        """Every unacknowledged publication again, DUP set, in the order first sent."""
        packets = self._packets
        for packet_id, packet in packets.items():
            if not packet[0] & _DUP:
                packets[packet_id] = bytes((packet[0] | _DUP,)) + packet[1:]
        return b"".join(packets.values())


class _Either:
    """In either of two containers."""

    def __init__(self, first: Container[int], second: Container[int]) -> None:
        self._first, self._second = first, second

    def __contains__(self, item: object) -> bool:
        return item in self._first or item in self._second


class AckQueue:
    """Received QoS 1 packet ids, released for PUBACK in arrival order once each is done."""

    def __init__(self) -> None:
        self._order: deque[int] = deque()
        self._pending: set[int] = set()
        self._done: set[int] = set()

    def __len__(self) -> int:
        return len(self._order)

    def received(self, packet_id: int) -> bool:
        """Queue a PUBLISH's id; False (and nothing queued) if that id is already waiting,
        i.e. the broker sent it again before our PUBACK: one PUBACK answers both."""
        if packet_id in self._pending:
            return False
        self._pending.add(packet_id)
        self._order.append(packet_id)
        return True

    def done(self, packet_id: int) -> list[int]:
        """Mark one finished; returns the ids now due a PUBACK, in order (often none)."""
        if packet_id not in self._pending or packet_id in self._done:
            return []
        self._done.add(packet_id)
        order, finished = self._order, self._done
        due: list[int] = []
        while order and order[0] in finished:
            released = order.popleft()
            finished.discard(released)
            self._pending.discard(released)
            due.append(released)
        return due

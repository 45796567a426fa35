"""What one connection received, until its reader takes it, and when each PUBACK is due.

A QoS 1 PUBLISH is acknowledged at once, or (`manual_ack`) once the reader says it
handled it; PUBACKs then still leave in the order the PUBLISHes came [MQTT-4.6.0-2].
"""

from __future__ import annotations

import asyncio
from collections import deque

from backend.mqtt.encode import encode_puback
from backend.mqtt.inflight import AckQueue
from backend.mqtt.packets import Publish


class Inbox:
    """Received messages for one reader; `get()` returns None once closed and empty."""

    def __init__(self, manual_ack: bool) -> None:
        self._messages: deque[Publish] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._acks = AckQueue() if manual_ack else None
        self._closed = False

    def __len__(self) -> int:
        return len(self._messages)

    def put(self, message: Publish) -> bytes:
        """Queue a received message; returns the PUBACK to send now (b"" if none)."""
        self._messages.append(message)
        self._wake()
        if message.packet_id is None:
            return b""
        if self._acks is None:
            return encode_puback(message.packet_id)
        self._acks.received(message.packet_id)
        return b""

    def handled(self, message: Publish) -> bytes:
        """The reader is done with `message`: the PUBACKs now due, in order (often b"")."""
        if self._acks is None or message.packet_id is None or self._closed:
            return b""
        return b"".join(encode_puback(due) for due in self._acks.done(message.packet_id))

    async def get(self) -> Publish | None:
        """The next message; waits for one; None once closed and empty."""
        messages = self._messages
        while not messages:
            if self._closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return messages.popleft()

    def close(self) -> None:
        """No more messages will come (those queued are still handed out)."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

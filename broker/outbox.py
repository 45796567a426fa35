"""What the broker sends one client: PUBLISHes within an in-flight window, writes corked.

amqtt sends each PUBLISH from a task of its own that waits for the PUBACK, gives up
after 5 s and forgets the message: a task per message and subscriber, a send() system
call per packet, and nothing to stop a client that does not read from piling up
tasks and buffers. Here:
- a QoS 1 PUBLISH is written at once when fewer than `MAX_INFLIGHT` await their
  PUBACK, else queued behind the others (the queue is bounded, oldest dropped);
  each PUBACK lets the next one out;
- a message stays in flight until acknowledged, across the connections of a
  persistent session: the next connection sends it again, flagged DUP [MQTT-4.4.0-1];
- QoS 0 messages are dropped while more than `MAX_BUFFERED_BYTES` wait to be sent;
- everything written during one turn of the event loop goes out in one send().
Deliveries are capped at QoS 1 (see `broker.delivery`), so there is no QoS 2 here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from amqtt.session import OutgoingApplicationMessage, Session

from broker.packets import encode_publish

log = logging.getLogger(__name__)

MAX_INFLIGHT = 100
MAX_BUFFERED_BYTES = 4 * 1024 * 1024
_OVERFLOWING = "mqchat.overflowing"  # in Session.attributes: dropping since last empty


def enqueue(session: Session, message: OutgoingApplicationMessage, limit: int) -> None:
    """Queue `message` for `session`, dropping the oldest ones beyond `limit`.

    Dropping is safe: the store, not the broker, is the source of truth, and a client
    that missed messages gets them from `sync`.
    """
    queue = session.retained_messages
    excess = queue.qsize() - limit + 1
    if excess > 0 and not session.attributes.get(_OVERFLOWING):
        session.attributes[_OVERFLOWING] = True  # one warning until the queue empties
        log.warning("queue of %r is full (%d): dropping its oldest", session.client_id, limit)
    for _ in range(excess):
        queue.get_nowait()
    queue.put_nowait(message)


def queued(topic: str, data: bytes, qos: int, retain: bool = False) -> OutgoingApplicationMessage:
    """A message waiting in a session's queue (no packet id until it is sent)."""
    return OutgoingApplicationMessage(None, topic, qos, data, retain)


class Outbox:
    """The sending side of one connection, serving the session it is attached to."""

    def __init__(self, session: Session, writer: Any, queue_limit: int) -> None:
        self._session = session
        self._writer = writer  # amqtt's writer adapter
        stream = getattr(writer, "_writer", None)  # its asyncio StreamWriter, over TCP
        self._transport = stream.transport if stream is not None else None
        self._queue_limit = queue_limit
        self._corked = bytearray()
        self._flush_handle: asyncio.Handle | None = None
        self.closed = False

    @property
    def backlog(self) -> int:
        """Bytes written but not yet sent."""
        buffered = self._transport.get_write_buffer_size() if self._transport else 0
        return buffered + len(self._corked)

    def write(self, data: bytes) -> None:
        """Send `data` at the end of this turn of the event loop, with whatever else comes."""
        if self.closed:
            return
        self._corked += data
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Hand what was written to the socket now."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._corked or self.closed:
            return
        if self._transport is not None and self._transport.is_closing():
            self._corked.clear()
            return
        data = bytes(self._corked)
        self._corked.clear()
        self._writer.write(data)

    def close(self) -> None:
        """Flush, then accept no more writes."""
        self.flush()
        self.closed = True

    def publish(self, topic: str, data: bytes, qos: int, retain: bool) -> None:
        """Send a PUBLISH now, or queue it behind the ones waiting for the window."""
        if qos == 0:
            if self.backlog > MAX_BUFFERED_BYTES:
                log.debug("client %r is not reading: QoS 0 dropped", self._session.client_id)
                return
            self.write(encode_publish(topic, data, 0, None, retain=retain))
            return
        window_full = len(self._session.inflight_out) >= MAX_INFLIGHT
        if window_full or not self._session.retained_messages.empty():
            enqueue(self._session, queued(topic, data, qos, retain), self._queue_limit)
            return
        self._send(queued(topic, data, qos, retain))

    def acknowledged(self, packet_id: int) -> bool:
        """A PUBACK came: the message is delivered, and the next may go out."""
        if self._session.inflight_out.pop(packet_id, None) is None:
            return False
        self._release()
        return True

    def resume(self) -> None:
        """On a new connection: send again what was in flight, then what was queued."""
        for message in self._session.inflight_out.values():
            self.write(_encode(message, dup=True))
        self._release()

    def _release(self) -> None:
        queue = self._session.retained_messages
        for _ in range(MAX_INFLIGHT - len(self._session.inflight_out)):
            if queue.empty():
                self._session.attributes.pop(_OVERFLOWING, None)
                return
            self._send(queue.get_nowait())

    def _send(self, message: Any) -> None:
        packet_id = self._session.next_packet_id
        outgoing = OutgoingApplicationMessage(
            packet_id, message.topic, message.qos, message.data, message.retain
        )
        self._session.inflight_out[packet_id] = outgoing
        self.write(_encode(outgoing))


def _encode(message: OutgoingApplicationMessage, *, dup: bool = False) -> bytes:
    return encode_publish(
        message.topic,
        bytes(message.data),
        message.qos or 0,
        message.packet_id,
        retain=bool(message.retain),
        dup=dup,
    )

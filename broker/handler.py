"""The broker's side of one client connection: one task that reads, and an `Outbox`.

amqtt runs a task per packet, queues to a broker loop that waits on four futures
(re-made as tasks after every message), and a handler with four more queues, locks
and events. Here one reader task handles each packet in order and hands PUBLISH,
SUBSCRIBE and UNSUBSCRIBE straight to the broker (`Router`): no task or queue per
packet, and a flooding client is read no faster than its messages are routed. Also:
- a client silent for 1.5 x its keep-alive is disconnected (amqtt notices and carries
  on), by one timer per connection rather than a timeout per read,
- reads packets through `broker.packets`: size limit, and a protocol violation
  (SUBSCRIBE with QoS 3 or no filters, PUBLISH to an empty topic...) closes the
  connection instead of being half-handled,
- sends through an `Outbox`: QoS 1 in flight until acknowledged, across connections
  (amqtt drops a message after 5 s without PUBACK, or on disconnect), a bounded
  window, no task per message,
- takes a QoS 2 PUBLISH without a task waiting for its PUBREL: it is kept in the
  session until the PUBREL, then routed, once,
- closes the socket within a bounded time, even when the client stops reading.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from amqtt.events import MQTTEvents
from amqtt.mqtt.packet import (
    DISCONNECT,
    PINGREQ,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    SUBSCRIBE,
    UNSUBSCRIBE,
)
from amqtt.session import IncomingApplicationMessage, Session

from broker.config import BrokerLimits
from broker.outbox import MAX_BUFFERED_BYTES, Outbox
from broker.packets import ProtocolViolation, encode_ack, read_packet

log = logging.getLogger(__name__)

KEEPALIVE_GRACE = 1.5  # [MQTT-3.1.2-24]
CLOSE_TIMEOUT_S = 2.0
_PINGRESP = b"\xd0\x00"


class Router(Protocol):
    """What a connection hands to the broker (`PatchedBroker` is one)."""

    async def on_publish(self, session: Session, message: IncomingApplicationMessage) -> None:
        """Route an accepted PUBLISH (QoS 2: once its PUBREL came)."""

    async def on_subscribe(
        self, session: Session, handler: ConnectionHandler, packet_id: int, topics: list[Any]
    ) -> None:
        """Subscribe, answer with SUBACK (`handler.send_packet`), send retained messages."""

    async def on_unsubscribe(
        self, session: Session, handler: ConnectionHandler, packet_id: int, topics: list[str]
    ) -> None:
        """Unsubscribe, and answer with UNSUBACK."""


class ConnectionHandler:
    """One client connection, attached to the (possibly resumed) session it serves."""

    __slots__ = (
        "_disconnect_waiter",
        "_idle_timeout",
        "_idle_timer",
        "_last_packet_at",
        "_limits",
        "_reader_task",
        "_router",
        "_silent",
        "ending",
        "outbox",
        "plugins_manager",
        "reader",
        "session",
        "writer",
    )

    def __init__(self, plugins_manager: Any, limits: BrokerLimits, router: Router) -> None:
        self.plugins_manager = plugins_manager
        self._limits = limits
        self._router = router
        self.session: Any = None
        self.reader: Any = None
        self.writer: Any = None
        self.outbox: Outbox | None = None
        # Set by the broker when it starts ending this connection, so it happens once.
        self.ending: asyncio.Task[None] | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._disconnect_waiter: asyncio.Future[Any] | None = None
        self._idle_timeout: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_packet_at = 0.0
        self._silent = False

    def attach(self, session: Any, reader: Any, writer: Any) -> None:
        self.session = session
        self.reader = reader
        self.writer = writer
        self.outbox = Outbox(session, writer, self._limits.queue_limit(session.username))

    async def start(self) -> None:
        """Start reading. Unlike amqtt, no waiting here for redeliveries to be acked."""
        loop = asyncio.get_running_loop()
        self._disconnect_waiter = loop.create_future()
        keep_alive = self.session.keep_alive
        self._idle_timeout = KEEPALIVE_GRACE * keep_alive if keep_alive > 0 else None
        self._last_packet_at = loop.time()
        if self._idle_timeout is not None:
            self._idle_timer = loop.call_at(self._last_packet_at + self._idle_timeout, self._idle)
        name = f"mqtt-reader-{self.session.client_id}"
        self._reader_task = loop.create_task(self._reader_loop(), name=name)

    def resume(self) -> None:
        """Send again what was in flight when the session's last connection ended, then
        what was queued meanwhile [MQTT-4.4.0-1]. A QoS 2 message from the client that
        still waits for its PUBREL stays in the session: the client sends the PUBREL again."""
        assert self.outbox is not None
        self.outbox.resume()

    def deliver(self, topic: str, data: bytes, qos: int, retain: bool) -> None:
        """Send a PUBLISH (QoS 0 or 1) to this client, or queue it."""
        assert self.outbox is not None
        self.outbox.publish(topic, data, qos, retain)

    async def send_packet(self, packet: Any) -> None:
        """Send a control packet (CONNACK, SUBACK...), corked with this turn's writes."""
        await self._send(packet.to_bytes())
        await self._fire(MQTTEvents.PACKET_SENT, packet)

    def disconnect_packet(self) -> Any:
        """The DISCONNECT the client sent, if it ended that way (else None)."""
        waiter = self._disconnect_waiter
        return waiter.result() if waiter is not None and waiter.done() else None

    async def wait_disconnect(self) -> Any:
        """Wait for the connection to end; the DISCONNECT packet, or None if it just ended."""
        waiter = self._disconnect_waiter
        return None if waiter is None else await waiter

    async def handle_connection_closed(self) -> None:
        self._set_disconnected(None)

    async def stop(self) -> None:
        """Stop reading and sending, and close the socket within `CLOSE_TIMEOUT_S`."""
        self._cancel_idle_timer()
        reader = self._reader_task
        waiting = reader is not None and reader is not asyncio.current_task() and not reader.done()
        if waiting:
            assert reader is not None
            reader.cancel()
        if self.outbox is not None:
            self.outbox.close()
        if self.writer is not None:
            await close_writer(self.writer)  # first: nothing more is read from it
        if waiting:
            assert reader is not None
            await asyncio.wait([reader], timeout=CLOSE_TIMEOUT_S)
        self._set_disconnected(None)

    # reading

    async def _reader_loop(self) -> None:
        client_id = self.session.client_id
        try:
            while not await self._read_one():
                pass
        except ProtocolViolation as violation:
            log.warning("client %r broke the protocol: %s; disconnecting it", client_id, violation)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.debug("client %r connection lost", client_id)
        except asyncio.CancelledError:
            # From stop() (the connection is over either way), or from the keep-alive.
            if self._silent:
                log.info(
                    "client %r silent for %.1fs: disconnecting it", client_id, self._idle_timeout
                )
        except Exception:
            log.exception("reading from client %r failed; disconnecting it", client_id)
        finally:
            self._cancel_idle_timer()
            # Wakes the broker's side of this client: without a DISCONNECT, the will goes.
            self._set_disconnected(None)

    async def _read_one(self) -> bool:
        """Read and handle one packet; True when the connection is over."""
        packet = await read_packet(self.reader, self._limits.max_packet_bytes)
        if packet is None:
            return True
        self._last_packet_at = asyncio.get_running_loop().time()
        await self._fire(MQTTEvents.PACKET_RECEIVED, packet)
        packet_type = packet.fixed_header.packet_type
        if packet_type == PUBLISH:
            # Routed before reading on: a flooding client is slowed down to the routing.
            await self._on_publish(packet)
        elif packet_type == PUBACK:
            self._on_puback(packet.variable_header.packet_id)
        elif packet_type == SUBSCRIBE:
            packet_id, topics = packet.variable_header.packet_id, packet.payload.topics
            await self._router.on_subscribe(self.session, self, packet_id, topics)
        elif packet_type == UNSUBSCRIBE:
            packet_id, topics = packet.variable_header.packet_id, packet.payload.topics
            await self._router.on_unsubscribe(self.session, self, packet_id, topics)
        elif packet_type == PINGREQ:
            await self._send(_PINGRESP)
        elif packet_type == PUBREL:
            await self._on_pubrel(packet.variable_header.packet_id)
        elif packet_type == DISCONNECT:
            self._set_disconnected(packet)
            return True
        else:  # PUBREC, PUBCOMP: answers to a QoS 2 PUBLISH, which the broker never sends
            log.debug("client %r sent packet type %d: ignored", self.session.client_id, packet_type)
        return False

    async def _on_publish(self, packet: Any) -> None:
        qos, packet_id = packet.qos, packet.packet_id
        message = IncomingApplicationMessage(
            packet_id, packet.topic_name, qos, packet.data, packet.retain_flag
        )
        message.publish_packet = packet
        if qos == 2:
            # Kept until its PUBREL; a DUP of a message already kept is not kept twice.
            self.session.inflight_in.setdefault(packet_id, message)
            await self._send(encode_ack(PUBREC, packet_id))
            return
        await self._router.on_publish(self.session, message)
        if qos == 1:
            await self._send(encode_ack(PUBACK, packet_id))

    async def _on_pubrel(self, packet_id: int) -> None:
        message = self.session.inflight_in.pop(packet_id, None)
        if message is not None:
            await self._router.on_publish(self.session, message)
        await self._send(encode_ack(PUBCOMP, packet_id))

    def _on_puback(self, packet_id: int) -> None:
        assert self.outbox is not None
        if not self.outbox.acknowledged(packet_id):
            log.debug("client %r acked unknown packet %d", self.session.client_id, packet_id)

    # sending, events, ending

    async def _send(self, data: bytes) -> None:
        # Corked with the rest of this turn's writes. Waiting for the socket only when
        # much is pending slows down a client that sends but does not read.
        assert self.outbox is not None
        self.outbox.write(data)
        if self.outbox.backlog > MAX_BUFFERED_BYTES:
            self.outbox.flush()
            try:
                await self.writer.drain()
            except ConnectionError:
                self._set_disconnected(None)

    async def _fire(self, event: str, packet: Any) -> None:
        # amqtt fires these for every packet; only build the call when a plugin listens.
        if event in self.plugins_manager._event_plugin_callbacks:
            await self.plugins_manager.fire_event(event, packet=packet, session=self.session)

    def _set_disconnected(self, disconnect: Any) -> None:
        # The first answer stays: a DISCONNECT read before anyone waited still counts
        # (amqtt forgot it, and published the will of a client that left cleanly).
        waiter = self._disconnect_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(disconnect)

    def _idle(self) -> None:
        """The keep-alive timer: the client has been silent too long, or re-arm it."""
        assert self._idle_timeout is not None
        loop = asyncio.get_running_loop()
        deadline = self._last_packet_at + self._idle_timeout
        if loop.time() < deadline:
            self._idle_timer = loop.call_at(deadline, self._idle)
            return
        self._idle_timer = None
        self._silent = True
        if self._reader_task is not None:
            self._reader_task.cancel()

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None


async def close_writer(writer: Any) -> None:
    """Close an amqtt writer gracefully, or abort it if that takes too long."""
    try:
        await asyncio.wait_for(writer.close(), CLOSE_TIMEOUT_S)
    except (TimeoutError, OSError):
        stream = getattr(writer, "_writer", None)  # amqtt's StreamWriterAdapter
        if stream is not None:
            stream.transport.abort()

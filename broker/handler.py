"""The broker's side of one client connection: amqtt's handler with its reader fixed.

Against amqtt's `BrokerProtocolHandler` this one
- disconnects a client silent for 1.5 x its keep-alive (amqtt notices and carries on),
- reads packets through `broker.packets`: size limit, and a protocol violation
  (SUBSCRIBE with QoS 3 or no filters, PUBLISH to an empty topic...) closes the
  connection instead of being half-handled,
- sends through an `Outbox`: QoS 1 in flight until acknowledged, across connections
  (amqtt drops a message after 5 s without PUBACK, or on disconnect), a bounded
  window, no task per message,
- closes the socket within a bounded time, even when the client stops reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from amqtt.events import MQTTEvents
from amqtt.mqtt.constants import QOS_2
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
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler

from broker.config import BrokerLimits
from broker.outbox import MAX_BUFFERED_BYTES, Outbox
from broker.packets import ProtocolViolation, read_packet

log = logging.getLogger(__name__)

KEEPALIVE_GRACE = 1.5  # [MQTT-3.1.2-24]
CLOSE_TIMEOUT_S = 2.0

_HANDLERS = {
    PUBACK: "handle_puback",
    PUBREC: "handle_pubrec",
    PUBREL: "handle_pubrel",
    PUBCOMP: "handle_pubcomp",
    SUBSCRIBE: "handle_subscribe",
    UNSUBSCRIBE: "handle_unsubscribe",
    PINGREQ: "handle_pingreq",
}


class ConnectionHandler(BrokerProtocolHandler):  # type: ignore[misc]  # amqtt is untyped
    """One client connection, attached to the (possibly resumed) session it serves."""

    def __init__(self, plugins_manager: Any, limits: BrokerLimits) -> None:
        super().__init__(plugins_manager)
        self._limits = limits
        self._tasks: set[asyncio.Task[Any]] = set()
        self.outbox: Outbox | None = None
        # Set by the broker when it starts ending this connection, so it happens once.
        self.ending: asyncio.Task[None] | None = None

    def attach(self, session: Any, reader: Any, writer: Any) -> None:
        super().attach(session, reader, writer)
        self.outbox = Outbox(session, writer, self._limits.queue_limit(session.username))

    async def start(self) -> None:
        """Start reading. Unlike amqtt, no waiting here for redeliveries to be acked."""
        self._reader_stopped = asyncio.Event()
        self._disconnect_waiter = asyncio.get_running_loop().create_future()
        name = f"mqtt-reader-{self.session.client_id}"
        self._reader_task = asyncio.create_task(self._reader_loop(), name=name)

    def resume(self) -> None:
        """Send again what was in flight when the session's last connection ended, then
        what was queued meanwhile [MQTT-4.4.0-1]."""
        assert self.outbox is not None
        self.outbox.resume()
        for message in self.session.inflight_in.values():  # QoS 2 from the client
            self._spawn(self._handle_message_flow(message))

    def deliver(self, topic: str, data: bytes, qos: int, retain: bool) -> None:
        """Send a PUBLISH (QoS 0 or 1) to this client, or queue it."""
        assert self.outbox is not None
        self.outbox.publish(topic, data, qos, retain)

    async def mqtt_publish(
        self, topic: str, data: bytes, qos: int | None, retain: bool, ack_timeout: Any = None
    ) -> None:
        # amqtt's entry point for sending, kept for anything that still calls it.
        self.deliver(topic, data, min(qos or 0, 1), retain)

    async def handle_puback(self, puback: Any) -> None:
        assert self.outbox is not None
        packet_id = puback.variable_header.packet_id
        if not self.outbox.acknowledged(packet_id):
            log.debug("client %r acked unknown packet %d", self.session.client_id, packet_id)

    @property
    def idle_timeout(self) -> float | None:
        keep_alive = self.session.keep_alive
        return KEEPALIVE_GRACE * keep_alive if keep_alive > 0 else None

    async def _reader_loop(self) -> None:
        client_id = self.session.client_id
        try:
            # One turn per packet: the connection's life, each turn bounded by the keep-alive.
            while not await self._read_one():
                pass
        except TimeoutError:
            log.info("client %r silent for %.1fs: disconnecting it", client_id, self.idle_timeout)
        except ProtocolViolation as violation:
            log.warning("client %r broke the protocol: %s; disconnecting it", client_id, violation)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.debug("client %r connection lost", client_id)
        except asyncio.CancelledError:
            pass  # stop() ends the reader; the connection is over either way
        except Exception:
            log.exception("reading from client %r failed; disconnecting it", client_id)
        finally:
            self._reader_stopped.set()
            # Wakes the broker's loop for this client: no DISCONNECT came, so the will goes.
            await self.handle_connection_closed()

    async def _read_one(self) -> bool:
        """Read and handle one packet; True when the connection is over."""
        # asyncio.timeout, not wait_for: no task per packet, and in Python 3.11 wait_for
        # can swallow the cancellation that stop() sends.
        async with asyncio.timeout(self.idle_timeout):
            packet = await read_packet(self.reader, self._limits.max_packet_bytes)
        if packet is None:
            return True
        await self.plugins_manager.fire_event(
            MQTTEvents.PACKET_RECEIVED, packet=packet, session=self.session
        )
        packet_type = packet.fixed_header.packet_type
        if packet_type == DISCONNECT:
            await self.handle_disconnect(packet)
            return True
        if packet_type == PUBLISH:
            if packet.qos == QOS_2:
                # The QoS 2 flow waits for PUBREL, which only this loop can read.
                self._spawn(self.handle_publish(packet))
            else:
                # Handled in order, before reading on: a flooding client is slowed down.
                await self.handle_publish(packet)
            return False
        await getattr(self, _HANDLERS[packet_type])(packet)
        return False

    async def handle_disconnect(self, disconnect: Any) -> None:
        # amqtt forgets its waiter here, so a DISCONNECT read before the broker starts
        # waiting looks like a dropped connection and the will is wrongly published.
        waiter = self._disconnect_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(disconnect)

    async def wait_disconnect(self) -> Any:
        waiter = self._disconnect_waiter
        return None if waiter is None else await waiter

    async def _send_packet(self, packet: Any) -> None:
        # Corked with the rest of this turn's writes. Waiting for the socket only when
        # much is pending slows down a client that sends but does not read.
        assert self.outbox is not None
        self.outbox.write(packet.to_bytes())
        if self.outbox.backlog > MAX_BUFFERED_BYTES:
            self.outbox.flush()
            try:
                await self.writer.drain()
            except ConnectionError:
                await self.handle_connection_closed()
                return
        await self.plugins_manager.fire_event(
            MQTTEvents.PACKET_SENT, packet=packet, session=self.session
        )

    async def stop(self) -> None:
        """Stop reading and sending, and close the socket within `CLOSE_TIMEOUT_S`."""
        self._stop_waiters()
        tasks = [*self._tasks]
        reader = self._reader_task
        if reader is not None and reader is not asyncio.current_task():
            tasks.append(reader)
        for task in tasks:
            task.cancel()
        if self.outbox is not None:
            self.outbox.close()
        if self.writer is not None:
            await close_writer(self.writer)  # first: nothing more is read from it
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
        waiter = self._disconnect_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "QoS 2 flow of client %r failed",
                self.session.client_id if self.session else None,
                exc_info=task.exception(),
            )


async def close_writer(writer: Any) -> None:
    """Close an amqtt writer gracefully, or abort it if that takes too long."""
    try:
        await asyncio.wait_for(writer.close(), CLOSE_TIMEOUT_S)
    except (TimeoutError, OSError):
        stream = getattr(writer, "_writer", None)  # amqtt's StreamWriterAdapter
        if stream is not None:
            stream.transport.abort()

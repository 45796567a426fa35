"""One TCP connection of an MQTT session, as an asyncio Protocol.

Why not paho and aiomqtt: at full speed they took ~80% of the backend's CPU (a future,
an Event and `wait_for` per publish, a scan of every in-flight publication per
publish and per PUBACK; docs/benchmarks-messaging.md). Here a batch of publications
is encoded and written with one call and no future per message; PUBACKs are a dict
pop; everything written during one turn of the event loop leaves in one `send`.

Flow control: a publisher waits (before writing) while `max_inflight` publications
await their PUBACK or while the socket's buffer is over its high-water mark; a
batch is written whole, so the bound is exceeded by at most one batch. Reading stops
while the reader leaves `MAX_QUEUED_MESSAGES` unread.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import cast

from backend.mqtt.decode import Decoder
from backend.mqtt.encode import encode, encode_publish
from backend.mqtt.errors import (
    ConnectionLost,
    ConnectRefused,
    MqttError,
    ProtocolError,
    SubscribeRefused,
)
from backend.mqtt.inbox import Inbox
from backend.mqtt.inflight import Unacked
from backend.mqtt.options import Options, Publication
from backend.mqtt.packets import (
    DISCONNECT_BYTES,
    PINGREQ_BYTES,
    Connack,
    MalformedPacket,
    Pingresp,
    Puback,
    Publish,
    Suback,
    Subscribe,
)

HIGH_WATER_BYTES = 1024 * 1024  # in the socket's buffer: publishers wait beyond it
LOW_WATER_BYTES = 256 * 1024
MAX_QUEUED_MESSAGES = 10_000  # received and not yet read: reading pauses beyond it
CLOSE_TIMEOUT_S = 2.0


class Connection(asyncio.Protocol):
    """`async with session.connect() as connection:`; closed (DISCONNECT) on leaving.

    `messages` ends when the connection does, whatever the cause; leaving the block
    then raises the cause (a `ConnectionLost`, `ProtocolError`...). So a loss inside a
    TaskGroup in the block surfaces as the `MqttError` itself, not an ExceptionGroup.
    """

    _loop: asyncio.AbstractEventLoop

    def __init__(self, options: Options, unacked: Unacked) -> None:
        self._options = options
        self._unacked = unacked
        self.session_present = False
        self.error: MqttError | None = None  # why it ended, when we did not end it
        self._decoder = Decoder(options.max_packet_bytes)
        self._transport: asyncio.Transport | None = None
        self._corked = bytearray()
        self._flush_handle: asyncio.Handle | None = None
        self._connack: asyncio.Future[Connack] | None = None
        self._subacks: dict[int, asyncio.Future[Suback]] = {}
        self._inbox = Inbox(options.manual_ack)
        self._room = asyncio.Event()
        self._writing_paused = self._reading_paused = False
        self._pinger: asyncio.TimerHandle | None = None
        self._heard = True  # something arrived since our last PINGREQ
        self._closing = self._ended = False
        self._lost: asyncio.Future[None] | None = None

    async def __aenter__(self) -> Connection:
        options, loop = self._options, asyncio.get_running_loop()
        self._loop = loop
        self._lost, self._connack = loop.create_future(), loop.create_future()
        where = f"{options.host}:{options.port}"
        try:
            async with asyncio.timeout(options.timeout):
                await loop.create_connection(lambda: self, options.host, options.port)
                self._write(encode(options.connect_packet()))
                connack = await self._connack
        except TimeoutError:  # before OSError, its base class
            await self._close()
            raise MqttError(f"no CONNACK from {where} within {options.timeout}s") from None
        except OSError as error:
            await self._close()
            raise ConnectionLost(f"cannot connect to {where}: {error}") from error
        except BaseException:
            await self._close()
            raise
        if connack.return_code:
            await self._close()
            raise ConnectRefused(connack.return_code)
        self.session_present = connack.session_present
        # Whether or not the broker kept the session, what it never acknowledged goes
        # again: recipients tell a repeat by its content, a loss nobody would notice.
        self._write(self._unacked.for_resend())
        if options.keepalive:
            self._pinger = loop.call_later(options.keepalive / 2, self._ping)
        return self

    async def __aexit__(self, exc_type: object, exc: object, traceback: object) -> None:
        await self._close()
        if exc_type is None and self.error is not None:
            raise self.error

    async def subscribe(self, filters: Sequence[tuple[str, int]]) -> list[int]:
        """Subscribe to `(topic filter, QoS)`s and wait for the SUBACK: the granted QoS of
        each. Raises `SubscribeRefused` naming the filters the broker refused."""
        self._check_open()
        packet_id = self._unacked.next_id(also_in_use=self._subacks)
        answer = self._subacks[packet_id] = self._loop.create_future()
        self._write(encode(Subscribe(packet_id, tuple(filters))))
        try:
            async with asyncio.timeout(self._options.timeout):
                suback = await answer
        except TimeoutError:
            raise MqttError(f"no SUBACK within {self._options.timeout}s") from None
        finally:
            self._subacks.pop(packet_id, None)
        codes = list(suback.return_codes)
        if len(codes) != len(filters):
            self._fail(ProtocolError(f"SUBACK has {len(codes)} codes for {len(filters)}"))
            raise self.error or ProtocolError("SUBACK")
        refused = [topic for (topic, _), code in zip(filters, codes, strict=True) if code == 0x80]
        if refused:
            raise SubscribeRefused(refused)
        return codes

    @property
    def messages(self) -> AsyncIterator[Publish]:
        """Incoming PUBLISHes (`topic`, `payload`, `retain`, `qos`...), for one reader;
        ends with the connection."""
        return _Messages(self)

    def ack(self, message: Publish) -> None:
        """With `manual_ack`: done with `message`; its PUBACK goes out once every QoS 1
        message received before it is done too [MQTT-4.6.0-2]. No-op otherwise, for
        QoS 0, or once the connection is gone (the broker then sends it again)."""
        self._write(self._inbox.handled(message))

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """One publication; see `publish_many`."""
        await self.publish_many([Publish(topic, payload, qos, retain)])

    async def publish_many(self, publications: Iterable[Publication]) -> None:
        """Write every publication at once (QoS 0 or 1); waits only while the in-flight
        window or the socket's buffer is full, never for a PUBACK of its own.

        QoS 1 ones are kept until PUBACKed, across connections. Raises `MqttError` when
        the connection is gone before they are written."""
        await self._wait_for_room()
        chunks: list[bytes] = []
        try:
            for item in publications:
                if item.qos == 1:
                    chunks.append(self._unacked.add(item.topic, item.payload, item.retain))
                else:
                    chunks.append(
                        encode_publish(item.topic, item.payload, item.qos, None, item.retain)
                    )
        finally:  # what was remembered must be sent, even if a later item was invalid
            self._write(b"".join(chunks))

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's is not an asyncio.Transport subclass, but behaves as one).
        self._transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(HIGH_WATER_BYTES, LOW_WATER_BYTES)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # Nagle would hold small packets back ~40 ms at low load
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._heard = True
        try:
            packets = self._decoder.feed(data)
        except MalformedPacket as error:
            self._fail(ProtocolError(f"malformed packet from the broker: {error}"))
            return
        for packet in packets:
            if isinstance(packet, Publish):
                self._received(packet)
            elif isinstance(packet, Puback):
                self._acknowledged(packet.packet_id)
            elif isinstance(packet, Suback):
                self._answer(self._subacks.get(packet.packet_id), packet)
            elif isinstance(packet, Connack) and self._connack and not self._connack.done():
                self._connack.set_result(packet)
            elif not isinstance(packet, Pingresp):
                self._fail(ProtocolError(f"unexpected {type(packet).__name__} from the broker"))
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended = True
        if self._pinger is not None:
            self._pinger.cancel()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._corked.clear()
        if not self._closing and self.error is None:
            cause = f": {exc}" if exc is not None else " by the broker"
            self.error = ConnectionLost(f"connection to the broker closed{cause}")
        error = self.error or MqttError("the connection is closed")
        waiting = [self._connack, *self._subacks.values()]
        for future in waiting:
            if future is not None and not future.done():
                future.set_exception(error)
        self._inbox.close()
        self._room.set()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._room.set()

    # internals

    def _received(self, message: Publish) -> None:
        self._write(self._inbox.put(message))
        if len(self._inbox) >= MAX_QUEUED_MESSAGES and not self._reading_paused:
            self._reading_paused = True
            if self._transport is not None:
                self._transport.pause_reading()

    async def _next_message(self) -> Publish | None:
        message = await self._inbox.get()
        if self._reading_paused and len(self._inbox) <= MAX_QUEUED_MESSAGES // 2:
            self._reading_paused = False
            if self._transport is not None and not self._ended:
                self._transport.resume_reading()
        return message

    def _acknowledged(self, packet_id: int) -> None:
        if (
            self._unacked.acknowledged(packet_id)
            and len(self._unacked) < self._options.max_inflight
        ):
            self._room.set()

    @staticmethod
    def _answer(future: asyncio.Future[Suback] | None, packet: Suback) -> None:
        if future is not None and not future.done():
            future.set_result(packet)

    async def _wait_for_room(self) -> None:
        limit = self._options.max_inflight
        while True:
            self._check_open()
            if (
                len(self._unacked) < limit
                and not self._writing_paused
                and len(self._corked) < HIGH_WATER_BYTES
            ):
                return
            self._room.clear()
            await self._room.wait()

    def _check_open(self) -> None:
        if self._ended or self._closing:
            raise self.error or MqttError("the connection is closed")

    def _ping(self) -> None:
        interval = self._options.keepalive / 2
        if not self._heard:
            self._fail(ConnectionLost(f"the broker sent nothing for {interval:g}s after PINGREQ"))
            return
        self._heard = False
        self._write(PINGREQ_BYTES)
        self._pinger = self._loop.call_later(interval, self._ping)

    def _write(self, data: bytes) -> None:
        if self._ended or not data:
            return
        self._corked += data
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        transport = self._transport
        # Nothing goes out after our DISCONNECT: a PUBACK left unsent only means that the
        # broker sends that message again.
        if self._corked and transport is not None and not transport.is_closing():
            transport.write(bytes(self._corked))
        self._corked.clear()
        self._room.set()

    def _fail(self, error: MqttError) -> None:
        if self.error is None:
            self.error = error
        if self._transport is not None:
            self._transport.abort()

    async def _close(self) -> None:
        self._closing = True
        if self._pinger is not None:
            self._pinger.cancel()
        transport, lost = self._transport, self._lost
        if transport is None or lost is None or self._ended:
            return
        if self.error is None:
            self._write(DISCONNECT_BYTES)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._flush()
        transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(lost), CLOSE_TIMEOUT_S)
        except TimeoutError:  # the broker does not read what is left: drop it
            transport.abort()
            await lost


class _Messages:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> Publish:
        message = await self._connection._next_message()
        if message is None:
            raise StopAsyncIteration
        return message

"""A client connection from its first byte to its end, in the order MQTT needs.

amqtt looks the client id up, wipes or takes over the session and registers the
connection before it asks the auth plugins, and on a refusal leaves a "connected"
session behind. Here nothing about sessions happens until the CONNECT has been read
(within the connect timeout and the size limit), checked, authenticated and its will
authorized. A refused CONNECT gets its CONNACK and the socket is closed, and no
session is created, looked at or changed.

Connections of one client id are handled one at a time. A new connection for a
client id that is connected closes the old connection first and waits until it has
ended: its will published (MQTT 3.1.1 publishes the will whenever a connection ends
without DISCONNECT [MQTT-3.1.2-8], and a takeover is such an end [MQTT-3.1.4-2]), the
session marked disconnected. Only then does the new connection take the session, so
nothing of the old connection's ending can mark the new one disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.events import BrokerEvents
from amqtt.mqtt.connack import (
    CONNECTION_ACCEPTED,
    IDENTIFIER_REJECTED,
    NOT_AUTHORIZED,
    UNACCEPTABLE_PROTOCOL_VERSION,
    ConnackPacket,
)
from amqtt.mqtt.disconnect import DisconnectPacket
from amqtt.session import Session

from broker.config import BrokerLimits
from broker.handler import ConnectionHandler, close_writer
from broker.packets import ProtocolViolation, read_packet
from broker.session import BrokerSession

log = logging.getLogger(__name__)

MQTT_311 = 4
TAKEOVER_TIMEOUT_S = 5.0


class KeyedLocks:
    """One lock per key, kept only while someone holds it or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class ConnectionsPatch(Broker):  # type: ignore[misc]  # amqtt is untyped
    """The connection lifecycle of `PatchedBroker`: authentication first, clean takeovers."""

    _limits: BrokerLimits
    _connect_locks: KeyedLocks
    _connection_tasks: set[asyncio.Task[Any]]

    async def wait_connections_closed(self, grace_s: float) -> None:
        """Wait for every connection task to end, cancelling those still running after `grace_s`."""
        tasks = set(self._connection_tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=grace_s)

    async def _client_connected(self, listener_name: str, reader: Any, writer: Any) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connection_tasks.add(task)
            task.add_done_callback(self._connection_tasks.discard)
        server = self._servers.get(listener_name)
        if server is None or 0 < server.max_connections <= server.conn_count:
            # amqtt would hold the socket open, unanswered, until a slot frees up.
            log.warning("connection limit reached; closing a new connection")
            await close_writer(writer)
            return
        await server.acquire_connection()
        try:
            await self._serve(reader, writer)
        except (ConnectionError, OSError) as error:
            log.debug("connection from %s lost: %r", writer.get_peer_info(), error)
        except Exception:
            log.exception("connection from %s failed", writer.get_peer_info())
        finally:
            await close_writer(writer)
            server.release_connection()

    async def _serve(self, reader: Any, writer: Any) -> None:
        incoming = await self._accept(reader, writer)
        if incoming is None:
            return
        session, handler = await self._attach(incoming, reader, writer)
        try:
            # The handler's reader does the work; amqtt's loop (four futures re-made
            # after every packet, and the subscription table formatted for a debug line
            # after every SUBSCRIBE) is not used.
            await handler.wait_disconnect()
        finally:
            await asyncio.shield(self._end_connection(session, handler))

    async def _accept(self, reader: Any, writer: Any) -> Session | None:
        """The session an acceptable CONNECT asks for; else None, the refusal sent.

        A function of its own so that the CONNECT packet is not kept for the whole
        connection (in `_serve`'s frame).
        """
        connect = await self._read_connect(reader, writer)
        if connect is None:
            return None
        incoming = _session_from_connect(connect, writer)
        refusal = await self._refusal(connect, incoming)
        if refusal is not None:
            await ConnackPacket.build(0, refusal).to_stream(writer)
            return None
        incoming.password = None  # checked; no reason to keep a token in memory
        return incoming

    async def _read_connect(self, reader: Any, writer: Any) -> Any | None:
        try:
            return await asyncio.wait_for(
                read_packet(reader, self._limits.max_packet_bytes, first=True),
                self._limits.connect_timeout_s,
            )
        except TimeoutError:
            log.info(
                "no CONNECT from %s within %ss: closing",
                writer.get_peer_info(),
                self._limits.connect_timeout_s,
            )
        except ProtocolViolation as violation:
            log.warning("bad CONNECT from %s: %s", writer.get_peer_info(), violation)
        return None

    async def _refusal(self, connect: Any, incoming: Session) -> int | None:
        """The CONNACK code refusing this CONNECT, or None to accept it."""
        if connect.proto_level != MQTT_311:
            return int(UNACCEPTABLE_PROTOCOL_VERSION)  # [MQTT-3.1.2-2]
        if connect.payload.client_id_is_random and not incoming.clean_session:
            return int(IDENTIFIER_REJECTED)  # [MQTT-3.1.3-8]
        if not await self._authenticate(incoming, None):
            return int(NOT_AUTHORIZED)
        if incoming.will_flag and not await self._topic_filtering(
            incoming, incoming.will_topic, Action.PUBLISH
        ):
            # amqtt never checks a will; it would publish wherever the client asked.
            log.info("refused will topic %r of %r", incoming.will_topic, incoming.client_id)
            return int(NOT_AUTHORIZED)
        return None

    async def _attach(
        self, incoming: Session, reader: Any, writer: Any
    ) -> tuple[Session, ConnectionHandler]:
        """Give the authenticated connection its session, ending an older connection first."""
        client_id = incoming.client_id
        async with self._connect_locks.hold(client_id):
            await self._end_previous_connection(client_id)
            session, present = await self._resume_or_create(incoming)
            handler = ConnectionHandler(self.plugins_manager, self._limits, router=self)
            handler.attach(session, reader, writer)
            await handler.send_packet(ConnackPacket.build(int(present), CONNECTION_ACCEPTED))
            await handler.start()
            # Until now messages for this client were queued; from here they go to this
            # connection, in order: what was in flight, what was queued, what comes next.
            session.transitions.connect()
            self._sessions[client_id] = (session, handler)
            handler.resume()
        await self.plugins_manager.fire_event(
            BrokerEvents.CLIENT_CONNECTED, client_id=client_id, client_session=session
        )
        return session, handler

    async def _end_previous_connection(self, client_id: str) -> None:
        session, handler = self._sessions.get(client_id, (None, None))
        if session is None or handler is None or not session.transitions.is_connected():
            return
        log.info("client %r connected again: closing its previous connection", client_id)
        ending = self._end_connection(session, handler)
        try:
            await asyncio.wait_for(asyncio.shield(ending), TAKEOVER_TIMEOUT_S)
        except TimeoutError:
            log.error("previous connection of %r did not end in time; replacing it", client_id)
        except Exception:
            # Logged where it failed; the new connection must not fail with it.
            log.error("previous connection of %r ended badly; replacing it", client_id)
        if session.transitions.is_connected():
            session.transitions.disconnect()

    async def _resume_or_create(self, incoming: Session) -> tuple[Session, bool]:
        """The session this connection continues (and True), or a new one (and False)."""
        client_id = incoming.client_id
        existing, _ = self._sessions.get(client_id, (None, None))
        resumable = (
            existing is not None
            and not incoming.clean_session
            and not existing.clean_session  # a clean session ended with its connection
            and existing.username == incoming.username
        )
        if not resumable:
            if existing is not None:
                await self._cleanup_session(client_id)
            return incoming, False
        # The session persists; the connection's own settings come from this CONNECT.
        for field in _CONNECTION_FIELDS:
            setattr(existing, field, getattr(incoming, field))
        return existing, True

    def _end_connection(self, session: Session, handler: Any) -> asyncio.Task[None]:
        """End a connection once, however many ask: will, socket, session state, event."""
        if handler.ending is None:
            # Read now: a takeover replaces the session's will right after this ends.
            clean = isinstance(handler.disconnect_packet(), DisconnectPacket)
            will = None if clean or not session.will_flag else _will_of(session)
            handler.ending = asyncio.create_task(self._finish_connection(session, handler, will))
        ending: asyncio.Task[None] = handler.ending
        return ending

    async def _finish_connection(
        self, session: Session, handler: Any, will: tuple[str, bytes, int, bool] | None
    ) -> None:
        client_id = session.client_id
        if will is not None:
            log.debug("client %r ended without DISCONNECT: publishing its will", client_id)
            await self._publish_will(session, *will)  # logs its own failures
        try:
            await handler.stop()
        except Exception:
            # Still mark the session disconnected: else the client id stays stuck.
            log.exception("stopping the connection of %r failed", client_id)
        if self._sessions.get(client_id, (None, None))[1] is not handler:
            return  # replaced by a newer connection, or removed at shutdown
        session.transitions.disconnect()
        if session.clean_session:
            await self._cleanup_session(client_id)  # [MQTT-3.1.2-6]: nothing outlives it
        await self.plugins_manager.fire_event(
            BrokerEvents.CLIENT_DISCONNECTED, client_id=client_id, client_session=session
        )


_CONNECTION_FIELDS = (
    "clean_session",
    "will_flag",
    "will_retain",
    "will_qos",
    "will_topic",
    "will_message",
    "keep_alive",
    "username",
    "password",
    "remote_address",
    "remote_port",
    "ssl_object",
)


def _session_from_connect(connect: Any, writer: Any) -> Session:
    """A new session for this CONNECT, not registered anywhere (yet)."""
    session = BrokerSession()
    session.client_id = connect.client_id
    session.clean_session = connect.clean_session_flag
    session.will_flag = connect.will_flag
    session.will_retain = connect.will_retain_flag
    session.will_qos = connect.will_qos
    session.will_topic = connect.will_topic
    session.will_message = connect.will_message
    session.username = connect.username
    session.password = connect.password
    session.remote_address, session.remote_port = writer.get_peer_info() or (None, None)
    session.ssl_object = writer.get_ssl_info()
    session.keep_alive = max(connect.keep_alive, 0)
    return session


def _will_of(session: Session) -> tuple[str, bytes, int, bool]:
    return (
        session.will_topic,
        bytes(session.will_message or b""),
        session.will_qos or 0,
        bool(session.will_retain),
    )

"""`ChatClient`: the asyncio SDK over MQTT (aiomqtt) and HTTP (httpx).

    async with ChatClient("127.0.0.1", 1883, "alice", token) as client:
        ack = await client.send("hello", to="bob")
        async for event in client.events():
            ...

No callbacks: requests are awaited, everything the server says is an event from
`events()`, presence is followed with `async for update in client.watch_presence(user)`
and typing is shown with `async with client.typing_in(conv):`. The calls that go over
HTTP (history, receipts, groups, media) come from `clients.sdk_http.HttpCalls`, those
about typing and presence from `clients.sdk_live.PresenceAndTyping`.

In the background, one TaskGroup runs the connection (which reconnects with backoff for
as long as the client is open) and, per connection, named loops for the outbox, the
sync, the coalesced receipts and the hole watch (see `clients.session`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from backend import wire
from clients import connection
from clients.connection import Identity, new_request_id
from clients.errors import ChatClientError, ClientClosed, ConnectionRefused
from clients.events import Event
from clients.http import ChatHttp
from clients.outbox import send_request
from clients.sdk_http import HttpCalls
from clients.sdk_live import PresenceAndTyping
from clients.session import Session, SessionOptions
from clients.state import ClientState
from clients.status import MessageStatus
from clients.watching import PresenceFollower

log = logging.getLogger(__name__)

GOODBYE_TIMEOUT_S = 3.0
MAX_BUFFERED_EVENTS = 10_000


class ChatClient(HttpCalls, PresenceAndTyping):
    """One device of one user: a persistent MQTT session, an outbox, a synced inbox.

    `receive=False` makes a send-only client (a CLI `send`, a bot that only posts): it
    hears only its acks and errors, never syncs, and sends no receipts or presence, so
    it cannot mark messages delivered that no one has seen.
    """

    def __init__(
        self,
        host: str,
        mqtt_port: int,
        user: str,
        token: str,
        *,
        http_url: str | None = None,
        tag: str | None = None,
        keepalive: int = 30,
        outbox_path: Path | str | None = None,
        receive: bool = True,
        retry_interval: float = 5.0,
        sync_limit: int = 500,
        max_buffered_events: int = MAX_BUFFERED_EVENTS,
    ) -> None:
        self.identity = Identity(user, token, tag)
        if not 1 <= sync_limit <= wire.SYNC_LIMIT_CAP:
            raise ValueError(f"sync_limit must be 1 to {wire.SYNC_LIMIT_CAP}")
        if retry_interval <= 0:
            raise ValueError("retry_interval must be positive")
        self.user = user
        self.host = host
        self.mqtt_port = mqtt_port
        self.keepalive = keepalive
        self.options = SessionOptions(
            receive=receive, retry_interval=retry_interval, sync_limit=sync_limit
        )
        self.state = ClientState(
            user,
            self.identity.client_id,
            Path(outbox_path) if outbox_path is not None else None,
            max_buffered_events,
        )
        self._session: Session | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._connection_task: asyncio.Task[None] | None = None
        self._chores: set[asyncio.Task[None]] = set()  # small tasks, cancelled on close
        # Clear while connecting and subscribing: aiomqtt mishandles a cancellation then.
        self._handshake_over = asyncio.Event()
        self._handshake_over.set()
        self._http = ChatHttp(http_url, token) if http_url else None
        self._presence = PresenceFollower(self.state, self._spawn)

    @property
    def client_id(self) -> str:
        """The MQTT client id: `<user>` or `<user>:<tag>`."""
        return self.identity.client_id

    async def __aenter__(self) -> Self:
        self.state.sends.load()
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._connection_task = self._tasks.create_task(
            self._stay_connected(), name=f"mqchat-connection[{self.client_id}]"
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session = self._session
        if session is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                async with asyncio.timeout(GOODBYE_TIMEOUT_S):
                    await session.goodbye()
        assert self._tasks is not None
        assert self._connection_task is not None
        # Cancelled while waiting for a CONNACK or SUBACK, aiomqtt cancels the future it
        # waits on and later trips over it in a callback: let the handshake finish first.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(connection.CALL_TIMEOUT_S):
                await self._handshake_over.wait()
        await _cancel_for_sure([self._connection_task, *self._chores])
        try:
            # The caller's own exception, if any, propagates unchanged; only failures of
            # the background tasks (bugs) come out of here.
            await self._tasks.__aexit__(None, None, None)
        finally:
            self.state.stop(ClientClosed("the client is closed"))
            if self._http is not None:
                await self._http.aclose()

    # Requests

    async def send(
        self,
        text: str | None = None,
        *,
        to: str | None = None,
        conv: str | None = None,
        kind: Literal["text", "image", "voice"] = "text",
        media: str | None = None,
        id: str | None = None,
    ) -> wire.Ack:
        """Send a message and wait for its ack; raises `SendError` on an error ack.

        The request waits in the outbox, published again with the same `id` after each
        reconnect and every `retry_interval` seconds, until answered. Cancelling the
        wait does not cancel the send: its ack then arrives as an event.
        """
        self._check_open()
        request = send_request(
            id or new_request_id(), text, to=to, conv=conv, kind=kind, media=media
        )
        new, waiter = self.state.sends.add(request)
        if new and self._session is not None:
            self._session.outbox_due.set()
        try:
            return await waiter
        finally:
            self.state.sends.forget_waiter(request["id"], waiter)

    async def mark_read(self, conv: str, seq: int) -> None:
        """Mark every message of `conv` up to `seq` read (sent now if connected, else on reconnect)."""
        self._check_open()
        self.state.core.mark_read(conv, seq)
        if self._session is not None:
            await self._session.send_receipts()

    # Waiting and reading

    async def connected(self) -> None:
        """Wait until connected to the broker."""
        await self.state.until(self.state.connected)

    async def synced(self) -> None:
        """Wait until the first full sync after the current (or next) connection is done.

        A send-only client (`receive=False`) counts as synced once connected.
        """
        await self.state.until(self.state.synced)

    async def events(self) -> AsyncGenerator[Event, None]:
        """Everything the server says, in arrival order; messages once each per `(conv, seq)`.

        Ends when the client closes; raises `ConnectionRefused` if the broker refuses the
        credentials. Events wait in a buffer of `max_buffered_events` (the oldest are
        dropped past that) until read; meant for one reader at a time.
        """
        while (event := await self.state.events.get()) is not None:
            yield event
        if isinstance(self.state.fatal, ConnectionRefused):
            raise self.state.fatal

    def status(self, conv: str, seq: int) -> MessageStatus:
        """`sent`, `delivered` or `read` for a message this user sent, with its marks."""
        return self.state.core.status(conv, seq)

    def conversation_marks(self, conv: str) -> wire.ConvMarks | None:
        """The marks of `conv` from the latest sync batch end, if any mentioned it."""
        return self.state.core.marks.get(conv)

    def pending_sends(self) -> list[str]:
        """Ids of the send requests still waiting for their ack, oldest first."""
        return self.state.outbox.ids()

    # Connection

    async def _stay_connected(self) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self._connect_once()
            except MqttConnectError as exc:
                if connection.refused_credentials(exc):
                    self.state.stop(ConnectionRefused(self.user, str(exc)))
                    return
                log.warning("%s: connection refused (%s); retrying", self.client_id, exc)
            except aiomqtt.MqttError as exc:
                log.info("%s: disconnected (%s); reconnecting", self.client_id, exc)
            if loop.time() - started >= connection.STABLE_SESSION_S:
                attempt = 0
            await asyncio.sleep(connection.reconnect_delay(attempt))
            attempt += 1

    async def _connect_once(self) -> None:
        mqtt = connection.mqtt_client(self.host, self.mqtt_port, self.identity, self.keepalive)
        self._handshake_over.clear()
        try:
            async with mqtt:
                session = Session(mqtt, self.state, self.options)
                try:
                    presence_filters = self._presence.filters()
                    refused = await session.open(presence_filters)
                    self._session = session
                    await self._presence.connected(session, presence_filters, refused)
                    self.state.connected.set()
                    self._handshake_over.set()
                    await session.run()
                finally:
                    self._session = None
                    self._presence.disconnected()
                    self.state.on_disconnected()
        finally:
            self._handshake_over.set()

    # Internals

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run a chore in the client's task group; it is cancelled if the client closes
        first (and dropped if it is closing already)."""
        try:
            if self._tasks is None:
                raise RuntimeError("not open")
            chore = self._tasks.create_task(work, name=name)
        except RuntimeError:  # the task group is finished or shutting down
            work.close()
            return
        self._chores.add(chore)
        chore.add_done_callback(self._chores.discard)

    def _check_open(self) -> None:
        if self.state.fatal is not None:
            raise self.state.fatal
        if self._tasks is None:
            raise ChatClientError("use the client inside `async with`")


CANCEL_CHECK_S = 0.1


async def _cancel_for_sure(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until they end, cancelling again as long as one runs on.

    On Python 3.11, `asyncio.wait_for` (which aiomqtt awaits every CONNACK, SUBACK and
    PUBACK through) loses a cancellation that arrives as the awaited packet does; the
    task then goes on as if never cancelled, and closing the client would hang.
    """
    while pending := [task for task in tasks if not task.done()]:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=CANCEL_CHECK_S)

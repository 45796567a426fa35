"""The MQTT edge of the backend: an ordinary MQTT client of whatever broker is in front.

It subscribes to every user's request topics, decodes each request, calls the
service and publishes what the service returns. Errors are translated here: a failed
send gets an error ack on `in/ack`, any other bad request a notice on `in/error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from backend import wire
from backend.core.coalesce import Coalescer
from backend.errors import ChatError, RateLimited
from backend.mqtt import Connection, Message, MqttError, Session
from backend.presence_service import PresenceService
from backend.service import ChatService, Outgoing, to_inbox
from backend.topics import (
    CONNECTIONS_TOPIC,
    ClientTopic,
    InboxTopic,
    backend_filters,
    parse_client_topic,
)

log = logging.getLogger(__name__)

# Requests handled at once; past this the loop stops reading and the broker holds the rest.
MAX_CONCURRENT_REQUESTS = 2000
# QoS 1 publications awaiting their PUBACK at once; past it, publishers wait.
MAX_INFLIGHT = 2000
RECONNECT_DELAYS_S = (0.1, 0.25, 0.5, 1.0, 2.0)
# Receipt events for one sender, conversation, reader and status within this window are
# sent as one (the latest); the contract allows it, and a state is still reported in < 1 s.
COALESCE_WINDOW_MS = 200


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str
    password: str
    client_id: str


Handler = Callable[[str, bytes], Awaitable[list[Outgoing]]]
SessionHook = Callable[[], Awaitable[list[Outgoing]]]
RequestT = TypeVar("RequestT", bound=wire.Inbound)


class Gateway:
    """Runs the backend's MQTT session: subscribe, dispatch, publish; reconnects forever."""

    def __init__(
        self,
        broker: BrokerAddress,
        service: ChatService,
        presence: PresenceService,
        on_session: SessionHook | None = None,
    ) -> None:
        self.broker = broker
        self.service = service
        self.presence = presence
        # Called on every new broker session, before any request is handled; what it
        # returns is published (for example everyone's presence after a broker restart).
        self.on_session = on_session
        self.connected = asyncio.Event()
        self._client: Connection | None = None
        self._mqtt = self._mqtt_session()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)
        self._coalescer: Coalescer[Outgoing] = Coalescer(window_ms=COALESCE_WINDOW_MS)
        self._held = asyncio.Event()
        self._handlers: dict[ClientTopic, Handler] = {
            ClientTopic.SEND: self._send,
            ClientTopic.RECEIPT: self._decoded(wire.ReceiptRequest, service.receipt),
            ClientTopic.TYPING: self._decoded(wire.TypingRequest, service.typing),
            ClientTopic.SYNC: self._decoded(wire.SyncRequest, service.sync),
            ClientTopic.PRESENCE: self._decoded(wire.PresenceRequest, presence.report),
        }

    async def run(self) -> None:
        """Serve until cancelled, reconnecting to the broker whenever the session drops."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._flush_held(), name="gateway-coalescer")
            await self._sessions()

    async def _sessions(self) -> None:
        attempt = 0
        while True:
            try:
                await self._session()
            except MqttError as exc:
                # A session that was up starts the backoff over: only failed attempts
                # in a row make the wait grow.
                attempt = 0 if self.connected.is_set() else attempt
                self.connected.clear()
                self._client = None
                delay = RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)]
                log.warning("broker session lost (%s); reconnecting in %.2fs", exc, delay)
                attempt += 1
                await asyncio.sleep(delay)
            else:
                return

    async def _session(self) -> None:
        try:
            async with self._mqtt.connect() as client, asyncio.TaskGroup() as requests:
                await self._serve(client, requests)
        except* MqttError as errors:
            # The message loop ends with MqttError when the broker goes away; the
            # TaskGroup wraps it, and `_sessions` reconnects on the bare error only.
            raise errors.exceptions[0] from None

    async def _serve(self, client: Connection, requests: asyncio.TaskGroup) -> None:
        filters = [*backend_filters(), CONNECTIONS_TOPIC]
        await client.subscribe([(topic_filter, 1) for topic_filter in filters])
        # Subscribing to CONNECTIONS_TOPIC makes the embedded broker send a snapshot of
        # every open connection (presence); another broker never publishes there.
        self._client = client
        self.connected.set()
        log.info("backend subscribed on %s:%d", self.broker.host, self.broker.port)
        if self.on_session is not None:
            await self.publish(await self.on_session())
        async for message in client.messages:
            await self._slots.acquire()
            task = requests.create_task(self._handle(client, message))
            task.add_done_callback(functools.partial(self._handled, client, message))

    def _handled(self, client: Connection, message: Message, _: object) -> None:
        # PUBACK only now: the broker sends a request again if the backend stopped before
        # finishing it (handling is idempotent: a send is known by its client id).
        client.ack(message)
        self._slots.release()

    async def publish(self, outgoing: list[Outgoing]) -> None:
        """Publish on the current session; coalescable items may be held for a moment."""
        now = _monotonic_ms()
        ready = [
            item
            for item in outgoing
            if item.coalesce_key is None
            or self._coalescer.offer(item.coalesce_key, item, item.rank, now) is not None
        ]
        if len(ready) < len(outgoing):
            self._held.set()
        await self._publish_now(ready)

    async def _publish_now(self, outgoing: list[Outgoing]) -> None:
        client = self._client
        if not outgoing:
            return
        if client is None or not self.connected.is_set():
            # Stored already: the recipients' next sync delivers it.
            log.warning("broker session down; %d publications left to sync", len(outgoing))
            return
        await publish_all(client, outgoing)

    async def _flush_held(self) -> None:
        """Send held items as their coalescing windows close."""
        while True:
            deadline = self._coalescer.next_deadline()
            if deadline is None:
                await self._held.wait()
                self._held.clear()
                continue
            delay_s = (deadline - _monotonic_ms()) / 1000
            if delay_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._held.wait(), delay_s)
                self._held.clear()
            await self._publish_now(self._coalescer.due(_monotonic_ms()))

    def _mqtt_session(self) -> Session:
        return Session(
            self.broker.host,
            self.broker.port,
            client_id=self.broker.client_id,
            username=self.broker.username,
            password=self.broker.password,
            # A persistent session: requests published while the backend is down wait
            # in the broker for it.
            clean_session=False,
            keepalive=30,
            timeout=10,
            max_inflight=MAX_INFLIGHT,
            manual_ack=True,  # see `_handled`
        )

    async def _handle(self, client: Connection, message: Message) -> None:
        topic = message.topic
        if topic == CONNECTIONS_TOPIC:
            await self._broker_event(message)
            return
        payload = message.payload
        try:
            outgoing = await self.answer(topic, payload)
        except Exception:
            # Not the client's fault and not acknowledged: the client's retry will tell.
            log.exception("failed to handle a request on %s", topic)
            return
        await self.publish(outgoing)

    async def answer(self, topic: str, payload: bytes) -> list[Outgoing]:
        """What one client publication produces, without the broker: the service's result,
        or the contract's error reply when the request fails with a `ChatError`.

        Any other exception propagates: it is a fault of the server, not of the request.
        """
        parsed = parse_client_topic(topic)
        if parsed is None:  # the broker's ACL lets nothing else through
            log.warning("ignoring a publication on %r", topic)
            return []
        try:
            return await self._handlers[parsed.kind](parsed.user, payload)
        except ChatError as error:
            return [error_reply(parsed.user, parsed.kind, topic, payload, error)]

    async def _broker_event(self, message: Message) -> None:
        payload = message.payload
        try:
            event = wire.decode(wire.ConnectionEvent, payload)
            outgoing = await self.presence.broker_event(event)
        except Exception:
            log.exception("could not handle a connection report: %r", payload[:200])
            return
        await self.publish(outgoing)

    async def _send(self, user: str, payload: bytes) -> list[Outgoing]:
        return await self.service.send(user, wire.decode(wire.SendRequest, payload))

    @staticmethod
    def _decoded(
        model: type[RequestT], method: Callable[[str, RequestT], Awaitable[list[Outgoing]]]
    ) -> Handler:
        async def handle(user: str, payload: bytes) -> list[Outgoing]:
            return await method(user, wire.decode(model, payload))

        return handle


def error_reply(
    user: str, kind: ClientTopic, topic: str, payload: bytes, error: ChatError
) -> Outgoing:
    """A failed send is answered on `in/ack`, anything else on `in/error`."""
    body = error_body(error)
    request_id = wire.request_id(payload)
    if kind is ClientTopic.SEND:
        return to_inbox(user, InboxTopic.ACK, wire.AckError(id=request_id, error=body))
    return to_inbox(
        user, InboxTopic.ERROR, wire.ErrorNotice(topic=topic, id=request_id, error=body)
    )


def error_body(error: ChatError) -> wire.ErrorBody:
    """The error object; a `rate_limited` one tells when to retry (as HTTP's Retry-After)."""
    if isinstance(error, RateLimited):
        wait_ms = math.ceil(error.retry_after_s * 1000)
        return wire.RetryLaterBody(code=error.code, message=error.message, retry_after_ms=wait_ms)
    return wire.ErrorBody(code=error.code, message=error.message)


async def publish_all(client: Connection, outgoing: list[Outgoing]) -> None:
    """Write every publication at once: no future per message, none waits for a PUBACK."""
    try:
        await client.publish_many(outgoing)
    except (MqttError, ValueError) as error:
        # The store has them; the recipients' next sync will deliver them.
        log.warning("could not publish %d items: %r", len(outgoing), error)


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000

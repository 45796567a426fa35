"""A plain MQTT test client (aiomqtt, the way any third-party client would talk)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt

from backend.topics import (
    ClientTopic,
    InboxTopic,
    client_topic,
    inbox_filter,
    parse_inbox_topic,
    will_topic,
)

HOST = "127.0.0.1"
WAIT_S = 10


class ChatPeer:
    """One connected user: publishes requests, collects what arrives per inbox topic."""

    def __init__(self, client: aiomqtt.Client, user: str) -> None:
        self.client = client
        self.user = user
        self.inbox: dict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self.other: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue()

    async def publish(
        self, kind: ClientTopic, payload: dict[str, Any] | bytes, qos: int = 1
    ) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await self.client.publish(client_topic(self.user, kind), body, qos=qos)

    async def expect(self, kind: InboxTopic, timeout: float = WAIT_S) -> dict[str, Any]:
        """The next payload on `in/<kind>`; fails the test if none comes in time."""
        return await asyncio.wait_for(self.inbox[kind.value].get(), timeout)

    async def expect_none(self, kind: InboxTopic, within: float) -> None:
        """Assert that nothing arrives on `in/<kind>` for `within` seconds."""
        with contextlib.suppress(TimeoutError):
            got = await asyncio.wait_for(self.inbox[kind.value].get(), within)
            raise AssertionError(f"unexpected {kind.value}: {got}")

    async def send(self, request: dict[str, Any]) -> dict[str, Any]:
        """Publish a send request and return its ack."""
        await self.publish(ClientTopic.SEND, request)
        return await self.expect(InboxTopic.ACK)

    async def _pump(self) -> None:
        async for message in self.client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            parsed = parse_inbox_topic(message.topic.value)
            if parsed is not None:
                self.inbox[parsed[1].value].put_nowait(json.loads(payload))
            else:
                self.other.put_nowait((message.topic.value, payload, message.retain))


ONLINE = b'{"state":"online"}'
OFFLINE = b'{"state":"offline"}'


@contextlib.asynccontextmanager
async def connect(
    port: int,
    user: str,
    token: str,
    *,
    client_id: str | None = None,
    clean_session: bool = True,
    subscribe: bool = True,
) -> AsyncIterator[ChatPeer]:
    """Connect as `user` the way the contract asks a client to: with the offline will,
    subscribed to its inbox, announcing `online` (and `offline` before a clean
    disconnect, which discards the will); incoming messages are pumped into queues."""
    async with aiomqtt.Client(
        HOST,
        port,
        username=user,
        password=token,
        identifier=client_id or user,
        protocol=aiomqtt.ProtocolVersion.V311,
        clean_session=clean_session,
        will=aiomqtt.Will(will_topic(user), OFFLINE, qos=1),
        timeout=WAIT_S,
    ) as client:
        peer = ChatPeer(client, user)
        if subscribe:
            await client.subscribe(inbox_filter(user), qos=1)
        await client.publish(will_topic(user), ONLINE, qos=1)
        pump = asyncio.create_task(peer._pump())
        try:
            yield peer
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await pump
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(will_topic(user), OFFLINE, qos=1)

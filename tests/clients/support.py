"""Helpers for the SDK's end-to-end tests: clients on a test server, waiting for events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from backend import wire
from clients.events import Event, SyncCompleted
from clients.sdk import ChatClient
from tests.support.server import HOST, ServerProcess

WAIT_S = 15.0

EventT = TypeVar("EventT")


def client(server: ServerProcess, user: str, token: str, **options: Any) -> ChatClient:
    """A ChatClient for `user` on the test server (HTTP included)."""
    options.setdefault("http_url", server.http_url)
    port = options.pop("port", server.mqtt_port)
    return ChatClient(HOST, port, user, token, **options)


async def next_event(
    chat: ChatClient,
    kind: type[EventT],
    where: Callable[[EventT], bool] = lambda _: True,
    timeout: float = WAIT_S,
) -> EventT:
    """The next event of `kind` that satisfies `where`; earlier ones are consumed."""
    async with asyncio.timeout(timeout), contextlib.aclosing(chat.events()) as events:
        async for event in events:
            if isinstance(event, kind) and where(event):
                return event
    raise AssertionError("the client closed before the event came")


async def collect_until_synced(chat: ChatClient, timeout: float = WAIT_S) -> list[wire.Message]:
    """Every message shown until the next full sync completes."""
    messages: list[wire.Message] = []
    async with asyncio.timeout(timeout), contextlib.aclosing(chat.events()) as events:
        async for event in events:
            if isinstance(event, wire.Message):
                messages.append(event)
            elif isinstance(event, SyncCompleted):
                return messages
    raise AssertionError("the client closed before syncing")


async def messages_for(chat: ChatClient, count: int, timeout: float = WAIT_S) -> list[wire.Message]:
    """The next `count` messages shown."""
    return [await next_event(chat, wire.Message, timeout=timeout) for _ in range(count)]


async def no_more_messages(chat: ChatClient, within: float) -> list[Event]:
    """Every message shown within `within` seconds (to assert there is none)."""
    shown: list[Event] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within), contextlib.aclosing(chat.events()) as events:
            async for event in events:
                if isinstance(event, wire.Message):
                    shown.append(event)
    return shown

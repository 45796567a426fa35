"""The cheapest client that still behaves as the contract asks, for a thousand at once.

A `LightClient` holds one bare MQTT connection (`RawSession`), reconnects by itself with
backoff and jitter, syncs after every connect (from what it has, by `since`), keeps its
sends until acked and publishes them again (same id) after a reconnect or a second of
silence, and asks again for a sync left unanswered: a request published while the
backend is not subscribed is lost, and only the client can notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from typing import Any

from backend.topics import ClientTopic, client_topic, inbox_filter
from tests.support.raw_session import RawSession

RETRY_S = 1.0
CONNECT_TIMEOUT_S = 5.0
BACKOFF_S = (0.1, 0.2, 0.4, 0.8, 1.6)


class LightClient:
    """`asyncio.create_task(client.run())`; then `send`, `seen`, `synced`."""

    def __init__(self, port: int, user: str, token: str) -> None:
        self.port = port
        self.user = user
        self.token = token
        self.seen: set[tuple[str, int]] = set()
        self.acks: dict[str, dict[str, Any]] = {}
        self.connects = 0
        self.connected = asyncio.Event()
        self.synced = asyncio.Event()  # a full sync finished on the current connection
        self._pending: dict[str, dict[str, Any]] = {}
        self._session: RawSession | None = None
        self._sync_id: str | None = None
        self._requests = itertools.count()
        self._changed = asyncio.Event()
        self._heard = False  # something came since the retry loop last looked

    def send(self, request: dict[str, Any]) -> None:
        """Keep `request` until acked; publish it now if connected."""
        self._pending[request["id"]] = request
        if self._session is not None:
            self._session.publish(client_topic(self.user, ClientTopic.SEND), request)

    async def wait_acked(self) -> None:
        """Until every send is acked."""
        while self._pending:
            self._changed.clear()
            await self._changed.wait()

    async def run(self) -> None:
        """Stay connected until cancelled."""
        for attempt in itertools.count():
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    session = await RawSession.open(self.port, self.user, self.token)
                    await session.subscribe(inbox_filter(self.user))
            except (OSError, EOFError, TimeoutError, AssertionError):
                delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                continue
            await self._serve(session)
            await asyncio.sleep(random.uniform(0.05, 0.3))  # dropped together: not back together

    async def _serve(self, session: RawSession) -> None:
        self.connects += 1
        self._session = session
        self.connected.set()
        retries = asyncio.create_task(self._retry(session))
        try:
            for request in self._pending.values():
                session.publish(client_topic(self.user, ClientTopic.SEND), request)
            self._start_sync(session)
            while True:
                topic, payload = await session.next_publication()
                self._on(session, topic.rsplit("/", 1)[-1], payload)
        except (OSError, EOFError):
            pass  # the connection dropped
        finally:
            retries.cancel()
            self._session = None
            self.connected.clear()
            self.synced.clear()
            session.writer.close()

    def _on(self, session: RawSession, kind: str, payload: dict[str, Any]) -> None:
        self._heard = True
        if kind == "msg":
            self.seen.add((payload["conv"], payload["seq"]))
        elif kind == "ack" and payload.get("id") in self._pending and "seq" in payload:
            self.acks[payload["id"]] = payload
            del self._pending[payload["id"]]
        elif kind == "sync" and payload.get("id") == self._sync_id:
            if payload["more"]:
                self._start_sync(session)
            else:
                self._sync_id = None
                self.synced.set()
        self._changed.set()

    def _start_sync(self, session: RawSession) -> None:
        self._sync_id = f"s{next(self._requests)}"
        since: dict[str, int] = {}
        for conv, seq in sorted(self.seen):
            if seq == since.get(conv, 0) + 1:
                since[conv] = seq
        session.publish(
            client_topic(self.user, ClientTopic.SYNC), {"id": self._sync_id, "since": since}
        )

    async def _retry(self, session: RawSession) -> None:
        """Every second without a word from the server: the sync and sends again."""
        while True:
            self._heard = False
            await asyncio.sleep(RETRY_S)
            if self._heard:
                continue
            if self._sync_id is not None:
                self._start_sync(session)
            for request in self._pending.values():
                session.publish(client_topic(self.user, ClientTopic.SEND), request)

    async def close(self) -> None:
        """Disconnect (the task running `run` is the caller's to cancel first)."""
        if self._session is not None:
            with contextlib.suppress(OSError):
                await self._session.close()

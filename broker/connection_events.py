"""Tells the backend who is connected: the embedded broker's side of presence.

Every connection that opens or ends is reported on `_mqchat/connections` (only the
backend may subscribe to it). Each time the backend subscribes to it (at every
(re)connect), the plugin answers with a snapshot of every open connection, so a
backend that restarted while the broker kept running starts from the truth. (Hooking
SUBSCRIBE, not every received message, keeps the per-message path free of tasks.)

Reports go out one by one from a queue, in the order the broker fired them: a
connection's end is never reported before its start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from amqtt.plugins.base import BasePlugin

from backend.topics import CONNECTIONS_TOPIC
from broker.plugins import is_backend_client_id

log = logging.getLogger(__name__)


class ConnectionEventsPlugin(BasePlugin):  # type: ignore[misc]  # amqtt is untyped
    """Reports connections and answers snapshot requests from the backend."""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._reports: asyncio.Queue[bytes] = asyncio.Queue()
        self._sender = asyncio.create_task(self._send_reports(), name="connection-reports")

    async def on_broker_client_connected(self, *, client_id: str, client_session: Any) -> None:
        self._report({"event": "connected", "client_id": client_id})

    async def on_broker_client_disconnected(self, *, client_id: str, client_session: Any) -> None:
        self._report({"event": "disconnected", "client_id": client_id})

    async def on_broker_client_subscribed(self, *, client_id: str, topic: str, qos: int) -> None:
        if topic != CONNECTIONS_TOPIC or not is_backend_client_id(client_id):
            return
        connected = [
            session.client_id
            for session in self.context.sessions
            if session.transitions.is_connected() and not is_backend_client_id(session.client_id)
        ]
        self._report({"event": "snapshot", "client_ids": connected})

    def _report(self, event: dict[str, Any]) -> None:
        event["ts"] = time.time_ns() // 1_000_000
        self._reports.put_nowait(json.dumps(event, separators=(",", ":")).encode())

    async def _send_reports(self) -> None:
        while True:
            report = await self._reports.get()
            try:
                await self.context.broadcast_message(CONNECTIONS_TOPIC, report, qos=1)
            except Exception:
                log.exception("could not report a connection to the backend")

    async def close(self) -> None:
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender

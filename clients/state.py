"""What a client keeps across connections, and what its callers wait on.

Sessions (one per connection, `clients.session`) feed it what arrives; `ChatClient`
reads it for its callers. It owns the protocol state (`ClientCore`), the sends in
flight, the buffered events, who is typing, the presence watchers, and the flags:
connected, synced, stopped.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from backend import wire
from clients.core import ClientCore
from clients.errors import ChatClientError, ConnectionRefused
from clients.events import EventBuffer, Inbound, PresenceUpdate, SyncCompleted
from clients.outbox import Outbox
from clients.presence import PresenceWatchers
from clients.sending import Sends
from clients.typing_board import TypingBoard


class ClientState:
    """The state of one client that outlives each of its connections."""

    def __init__(
        self, user: str, client_id: str, outbox_path: Path | None, max_buffered_events: int
    ) -> None:
        self.user = user
        self.client_id = client_id
        self.core = ClientCore(user)
        self.sends = Sends(outbox_path)
        self.events = EventBuffer(max_buffered_events)
        self.typing = TypingBoard()
        self.presence = PresenceWatchers()
        self.connected = asyncio.Event()
        self.synced = asyncio.Event()
        self.stopped = asyncio.Event()
        self.fatal: ChatClientError | None = None

    @property
    def outbox(self) -> Outbox:
        """The unacknowledged send requests."""
        return self.sends.outbox

    def dispatch(self, item: Inbound) -> None:
        """Apply one decoded publication: settle sends, update state, queue the event."""
        match item:
            case wire.Message():
                if not self.core.on_message(item):
                    return  # seen before: shown once only
            case wire.Ack():
                self.core.on_own_message(item)
                self.sends.settle(item)
            case wire.AckError():
                self.sends.settle(item)
            case wire.ReceiptEvent():
                self.core.on_receipt(item)
            case wire.TypingEvent():
                self.typing.on_event(item, time.monotonic())
            case PresenceUpdate():
                self.presence.publish(item)
            case wire.SyncEnd():
                return  # the session's sync loop consumes it
        self.events.put(item)

    def on_disconnected(self) -> None:
        """The connection dropped: not connected, not synced, no sync round pending."""
        self.connected.clear()
        self.synced.clear()
        self.core.abandon_round()

    def on_synced(self, convs: dict[str, wire.ConvMarks]) -> None:
        """A full sync finished: wake `synced()` waiters and tell the event reader."""
        self.synced.set()
        self.events.put(SyncCompleted(convs))

    def on_connected_send_only(self) -> None:
        """A send-only client has nothing to sync: connected is synced."""
        self.synced.set()

    def stop(self, error: ChatClientError) -> None:
        """Wake every waiter with `error`; a refusal is kept to be raised by later calls."""
        if self.fatal is None or isinstance(error, ConnectionRefused):
            self.fatal = error
        self.sends.fail_all(error)
        self.stopped.set()
        self.events.close()
        self.presence.close(error if isinstance(error, ConnectionRefused) else None)

    async def until(self, flag: asyncio.Event) -> None:
        """Wait for `flag`; raise the reason instead if the client stops first."""
        if not flag.is_set():
            waits = [asyncio.ensure_future(flag.wait()), asyncio.ensure_future(self.stopped.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        if not flag.is_set():
            assert self.fatal is not None
            raise self.fatal

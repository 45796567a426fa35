"""What the server sends a client, decoded into typed events.

The server's own wire models (`backend.wire`) are reused as the events wherever the
payload says everything; two small dataclasses cover what the wire leaves implicit
(whose presence changed, when a sync finished). Decoding never raises: a payload that
cannot be understood is logged and skipped, since one bad publication must not take a
client down.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from backend import wire
from backend.topics import InboxTopic, parse_inbox_topic, parse_presence_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PresenceUpdate:
    """`presence/<user>` changed: `state` is `online` or `offline`."""

    user: str
    state: wire.PresenceState
    last_seen: int | None
    ts: int


@dataclass(frozen=True, slots=True)
class SyncCompleted:
    """A full sync (every batch, up to `more: false`) finished after a (re)connect.

    `convs` holds the last batch end's marks of every conversation the user is in.
    """

    convs: Mapping[str, wire.ConvMarks]


# What `ChatClient.events()` yields. Match on the class, e.g. `case wire.Message():`.
Event = (
    wire.Message
    | wire.ReceiptEvent
    | wire.TypingEvent
    | PresenceUpdate
    | wire.ErrorNotice
    | wire.Ack
    | wire.AckError
    | SyncCompleted
)

# What arrives from the broker: the events, plus sync batch ends that the client consumes.
Inbound = Event | wire.SyncEnd

_MODELS: dict[InboxTopic, type[BaseModel]] = {
    InboxTopic.MSG: wire.Message,
    InboxTopic.RECEIPT: wire.ReceiptEvent,
    InboxTopic.TYPING: wire.TypingEvent,
    InboxTopic.SYNC: wire.SyncEnd,
    InboxTopic.ERROR: wire.ErrorNotice,
}


def decode_publication(me: str, topic: str, payload: bytes) -> Inbound | None:
    """The event a publication carries, or None (logged) if it is not one this client reads."""
    document = _json_object(topic, payload)
    if document is None:
        return None
    try:
        inbox = parse_inbox_topic(topic)
        if inbox is not None and inbox[0] == me:
            return _decode_inbox(inbox[1], document)
        presence_user = parse_presence_topic(topic)
        if presence_user is not None:
            presence = wire.Presence.model_validate(document)
            return PresenceUpdate(presence_user, presence.state, presence.last_seen, presence.ts)
    except ValidationError as exc:
        log.warning(
            "skipping a malformed payload on %s: %s", topic, wire.describe_validation_error(exc)
        )
        return None
    log.warning("skipping a publication on unexpected topic %r", topic)
    return None


def _decode_inbox(kind: InboxTopic, document: dict[str, Any]) -> Inbound:
    if kind is InboxTopic.ACK:
        # A failed send is answered on the same topic, told apart by its `error`.
        model: type[BaseModel] = wire.AckError if "error" in document else wire.Ack
    else:
        model = _MODELS[kind]
    decoded: Inbound = model.model_validate(document)  # type: ignore[assignment]
    return decoded


def _json_object(topic: str, payload: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        log.warning("skipping a payload on %s that is not UTF-8 JSON: %s", topic, exc)
        return None
    if not isinstance(document, dict):
        log.warning("skipping a payload on %s that is not a JSON object", topic)
        return None
    return document


class EventBuffer:
    """Events waiting for their reader; past `capacity` the oldest are dropped (and logged)."""

    def __init__(self, capacity: int) -> None:
        self._events: deque[Event] = deque(maxlen=capacity)
        self._ready = asyncio.Event()
        self._closed = False

    def put(self, event: Event) -> None:
        """Queue `event` for the reader."""
        if len(self._events) == self._events.maxlen:
            log.warning("event buffer full (%d); dropping the oldest event", len(self._events))
        self._events.append(event)
        self._ready.set()

    def close(self) -> None:
        """No more events will come; `get` returns None once the buffer is drained."""
        self._closed = True
        self._ready.set()

    async def get(self) -> Event | None:
        """The oldest event, waiting for one; None once closed and drained."""
        while not self._events:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._events.popleft()

"""Decoding what the server publishes (clients.events)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from backend import wire
from clients.events import EventBuffer, PresenceUpdate, SyncCompleted, decode_publication

MESSAGE = {"conv": "dm:alice:bob", "seq": 3, "from": "alice", "ts": 1, "kind": "text", "text": "hi"}


def decode(topic: str, document: Any) -> object:
    return decode_publication("bob", topic, json.dumps(document).encode())


def test_message_with_unknown_fields() -> None:
    event = decode("chat/u/bob/in/msg", {**MESSAGE, "future_field": [1, 2]})
    assert isinstance(event, wire.Message)
    assert (event.conv, event.seq, event.sender, event.text) == ("dm:alice:bob", 3, "alice", "hi")


def test_ack_and_error_ack_share_a_topic() -> None:
    ack = decode("chat/u/bob/in/ack", {"id": "m1", "conv": "dm:alice:bob", "seq": 4, "ts": 9})
    assert ack == wire.Ack(id="m1", conv="dm:alice:bob", seq=4, ts=9)
    error = decode(
        "chat/u/bob/in/ack", {"id": "m2", "error": {"code": "not_member", "message": "no"}}
    )
    assert isinstance(error, wire.AckError)
    assert error.error.code == "not_member"


@pytest.mark.parametrize(
    ("topic", "document", "model"),
    [
        (
            "chat/u/bob/in/receipt",
            {
                "conv": "c",
                "by": "x",
                "status": "read",
                "seq": 1,
                "ts": 1,
                "all_delivered": 1,
                "all_read": 1,
            },
            wire.ReceiptEvent,
        ),
        (
            "chat/u/bob/in/typing",
            {"conv": "c", "from": "x", "state": "typing", "ts": 1},
            wire.TypingEvent,
        ),
        ("chat/u/bob/in/sync", {"id": "s", "more": False, "convs": {}}, wire.SyncEnd),
        (
            "chat/u/bob/in/error",
            {"topic": "chat/u/bob/sync", "id": None, "error": {"code": "invalid", "message": "m"}},
            wire.ErrorNotice,
        ),
    ],
)
def test_each_inbox_topic(topic: str, document: dict[str, Any], model: type) -> None:
    assert isinstance(decode(topic, document), model)


def test_presence_names_its_user() -> None:
    event = decode("presence/alice", {"state": "offline", "last_seen": 5, "ts": 6})
    assert event == PresenceUpdate("alice", "offline", 5, 6)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("chat/u/bob/in/msg", b"\xff\xfe"),
        ("chat/u/bob/in/msg", b"{not json"),
        ("chat/u/bob/in/msg", b"[1, 2]"),
        ("chat/u/bob/in/msg", json.dumps({**MESSAGE, "seq": "three"}).encode()),
        ("chat/u/bob/in/nonsense", json.dumps(MESSAGE).encode()),
        ("chat/u/carol/in/msg", json.dumps(MESSAGE).encode()),
        ("somewhere/else", json.dumps(MESSAGE).encode()),
    ],
)
def test_bad_publications_are_logged_and_skipped(
    topic: str, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="clients.events"):
        assert decode_publication("bob", topic, payload) is None
    assert caplog.records


async def test_buffer_hands_out_in_order_then_ends_when_closed() -> None:
    buffer = EventBuffer(capacity=10)
    waiting = asyncio.create_task(buffer.get())
    await asyncio.sleep(0)
    first = SyncCompleted({})
    buffer.put(first)
    assert await asyncio.wait_for(waiting, 1) is first
    buffer.put(PresenceUpdate("a", "online", None, 1))
    buffer.close()
    assert await buffer.get() == PresenceUpdate("a", "online", None, 1)
    assert await buffer.get() is None


async def test_buffer_drops_the_oldest_when_full(caplog: pytest.LogCaptureFixture) -> None:
    buffer = EventBuffer(capacity=2)
    events = [PresenceUpdate("a", "online", None, ts) for ts in range(3)]
    for event in events:
        buffer.put(event)
    buffer.close()
    assert [await buffer.get(), await buffer.get(), await buffer.get()] == [*events[1:], None]
    assert "dropping" in caplog.text

"""What `mqchat listen` prints for each event (clients.cli.listen.ListenView)."""

from __future__ import annotations

from typing import Any

from backend import wire
from clients.cli.listen import ListenView
from clients.events import SyncCompleted

DM = "dm:alice:bob"


def message(seq: int, sender: str = "bob", text: str = "hi") -> wire.Message:
    return wire.Message.model_validate(
        {"conv": DM, "seq": seq, "from": sender, "ts": 1, "kind": "text", "text": text}
    )


def typing(state: str = "typing", sender: str = "bob") -> wire.TypingEvent:
    return wire.TypingEvent.model_validate({"conv": DM, "from": sender, "state": state, "ts": 1})


def receipt(status: str, all_delivered: int, all_read: int) -> wire.ReceiptEvent:
    return wire.ReceiptEvent.model_validate(
        {"conv": DM, "by": "bob", "status": status, "seq": all_delivered, "ts": 1,
         "all_delivered": all_delivered, "all_read": all_read}
    )  # fmt: skip


def marks(**values: Any) -> wire.ConvMarks:
    return wire.ConvMarks.model_validate(
        {"last_seq": 0, "all_delivered": 0, "all_read": 0, "delivered": 0, "read": 0, **values}
    )


def test_typing_shows_once_per_burst() -> None:
    view = ListenView()
    assert view.lines(typing(), now=0.0) == ["[dm:alice:bob] bob is typing..."]
    assert view.lines(typing(), now=3.0) == []  # the sender's repeat
    assert view.lines(typing(), now=6.0) == []
    assert view.lines(typing("recording"), now=7.0) == [
        "[dm:alice:bob] bob is recording a voice note..."
    ]
    assert view.lines(typing("paused"), now=8.0) == []
    assert view.lines(typing(), now=9.0) == ["[dm:alice:bob] bob is typing..."]
    # Not repeated for 6 s: it lapsed, so typing again is news.
    assert view.lines(typing(), now=15.0) == ["[dm:alice:bob] bob is typing..."]


def test_a_message_ends_its_senders_typing() -> None:
    view = ListenView()
    view.lines(typing(), now=0.0)
    assert view.lines(message(1), now=1.0) == ["[dm:alice:bob #1] bob: hi"]
    assert view.lines(typing(), now=2.0) == ["[dm:alice:bob] bob is typing..."]


def test_own_messages_get_ticks() -> None:
    view = ListenView()
    assert view.lines(wire.Ack(id="m1", conv=DM, seq=2, ts=1), now=0.0) == [
        "[dm:alice:bob #2] ✓ sent"
    ]
    assert view.lines(receipt("delivered", 2, 1), now=0.1) == [
        "[dm:alice:bob #2] ✓✓ delivered to bob"
    ]
    assert view.lines(receipt("read", 2, 2), now=0.2) == ["[dm:alice:bob #2] ✓✓ read by bob"]


def test_a_sync_says_what_was_already_known() -> None:
    view = ListenView()
    synced = SyncCompleted({DM: marks(last_seq=4, all_delivered=4, all_read=3)})
    assert view.lines(synced, now=0.0) == []
    assert view.lines(receipt("delivered", 4, 3), now=0.1) == []
    assert view.lines(receipt("read", 4, 4), now=0.2) == ["[dm:alice:bob] ✓✓ read by bob, up to #4"]


def test_other_events_print_nothing() -> None:
    view = ListenView()
    notice = wire.ErrorNotice.model_validate(
        {"topic": "chat/u/alice/receipt", "error": {"code": "not_member", "message": "no"}}
    )
    assert view.lines(notice, now=0.0) == []

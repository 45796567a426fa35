"""Ticks on the user's own messages, and the receipt table (clients.ticks)."""

from __future__ import annotations

from datetime import timedelta, timezone

from backend import wire
from clients.models import MemberReceipt
from clients.ticks import Tick, TickTracker, format_receipt_table, format_tick

DM = "dm:alice:bob"
GROUP = "g:Abcdefghijklmnop"


def ack(seq: int, conv: str = DM) -> wire.Ack:
    return wire.Ack(id=f"m{seq}", conv=conv, seq=seq, ts=1)


def receipt(
    status: str, seq: int, all_delivered: int, all_read: int, conv: str = DM, by: str = "bob"
) -> wire.ReceiptEvent:
    return wire.ReceiptEvent.model_validate(
        {"conv": conv, "by": by, "status": status, "seq": seq, "ts": 1,
         "all_delivered": all_delivered, "all_read": all_read}
    )  # fmt: skip


def lines(ticks: list[Tick]) -> list[str]:
    return [format_tick(tick) for tick in ticks]


def test_a_message_goes_sent_delivered_read() -> None:
    tracker = TickTracker()
    assert format_tick(tracker.on_ack(ack(3))) == "[dm:alice:bob #3] ✓ sent"
    assert lines(tracker.on_receipt(receipt("delivered", 3, 3, 2))) == [
        "[dm:alice:bob #3] ✓✓ delivered to bob"
    ]
    assert lines(tracker.on_receipt(receipt("read", 3, 3, 3))) == [
        "[dm:alice:bob #3] ✓✓ read by bob"
    ]
    # The same state again (a coalesced or repeated event) is no news.
    assert tracker.on_receipt(receipt("read", 3, 3, 3)) == []
    assert tracker.on_receipt(receipt("delivered", 3, 3, 3)) == []


def test_one_receipt_covering_several_messages_names_the_newest() -> None:
    tracker = TickTracker()
    for seq in (1, 2, 4):
        tracker.on_ack(ack(seq))
    assert lines(tracker.on_receipt(receipt("delivered", 5, 5, 0))) == [
        "[dm:alice:bob #4] ✓✓ delivered to bob"
    ]
    # Read up to 2, delivered 4 already shown: only the read tick.
    assert lines(tracker.on_receipt(receipt("read", 2, 5, 2))) == [
        "[dm:alice:bob #2] ✓✓ read by bob"
    ]


def test_read_at_once_needs_no_delivered_tick() -> None:
    tracker = TickTracker()
    tracker.on_ack(ack(1))
    tracker.on_ack(ack(2))
    # Read up to 1 and delivered up to 2 in one (coalesced) event: one line each.
    assert lines(tracker.on_receipt(receipt("read", 1, 2, 1))) == [
        "[dm:alice:bob #1] ✓✓ read by bob",
        "[dm:alice:bob #2] ✓✓ delivered to bob",
    ]
    assert lines(tracker.on_receipt(receipt("read", 2, 2, 2))) == [
        "[dm:alice:bob #2] ✓✓ read by bob"
    ]


def test_groups_tick_when_everyone_got_it() -> None:
    tracker = TickTracker()
    tracker.on_ack(ack(5, GROUP))
    # bob has it, carol not yet: all_delivered stays below 5.
    assert tracker.on_receipt(receipt("delivered", 5, 4, 2, conv=GROUP, by="bob")) == []
    assert lines(tracker.on_receipt(receipt("delivered", 5, 5, 2, conv=GROUP, by="carol"))) == [
        f"[{GROUP} #5] ✓✓ delivered to all"
    ]
    assert lines(tracker.on_receipt(receipt("read", 5, 5, 5, conv=GROUP, by="carol"))) == [
        f"[{GROUP} #5] ✓✓ read by all"
    ]


def test_marks_moving_over_others_messages_only_are_no_tick() -> None:
    tracker = TickTracker()
    tracker.on_ack(ack(5, GROUP))
    # Everyone now has 4 (someone else's message): alice's 5 is still on its way.
    assert tracker.on_receipt(receipt("delivered", 5, 4, 0, conv=GROUP)) == []


def test_messages_sent_before_the_tracker_started_are_ticked_by_their_mark() -> None:
    tracker = TickTracker()
    assert lines(tracker.on_receipt(receipt("read", 5, 5, 5))) == [
        "[dm:alice:bob] ✓✓ read by bob, up to #5"
    ]


def test_marks_known_from_a_sync_are_no_news() -> None:
    tracker = TickTracker()
    tracker.known(DM, all_delivered=6, all_read=4)
    assert tracker.on_receipt(receipt("delivered", 6, 6, 4)) == []
    assert lines(tracker.on_receipt(receipt("read", 6, 6, 6))) == [
        "[dm:alice:bob] ✓✓ read by bob, up to #6"
    ]
    # A lower report later never moves a tick back.
    tracker.known(DM, all_delivered=1, all_read=1)
    assert tracker.on_receipt(receipt("read", 6, 6, 6)) == []


def test_receipt_table_in_local_time() -> None:
    plus_two = timezone(timedelta(hours=2))
    rows = [
        MemberReceipt(user="bob", delivered_ts=1_764_410_000_000, read_ts=1_764_410_065_000),
        MemberReceipt(user="carolina", delivered_ts=1_764_410_001_000, read_ts=None),
        MemberReceipt(user="dave", delivered_ts=None, read_ts=None),
    ]
    assert format_receipt_table(rows, plus_two) == [
        "user      delivered            read",
        "bob       2025-11-29 11:53:20  2025-11-29 11:54:25",
        "carolina  2025-11-29 11:53:21  -",
        "dave      -                    -",
    ]
    assert format_receipt_table([], plus_two) == ["user  delivered  read"]

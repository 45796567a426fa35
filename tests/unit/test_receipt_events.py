import json

from backend.core.marks import Marks
from backend.service import receipt_events
from backend.store.base import ReceiptResult


def result(before: Marks, after: Marks, delivered: list[str], read: list[str]) -> ReceiptResult:
    return ReceiptResult(
        conv="g:AAAAAAAAAAAAAAAAAAAAAA",
        user="bob",
        before=before,
        after=after,
        conversation=Marks(after.delivered, after.read),
        notify_delivered=delivered,
        notify_read=read,
    )


def statuses(outgoing: list) -> list[tuple[str, str, int]]:  # type: ignore[type-arg]
    return [
        (o.topic.split("/")[2], json.loads(o.payload)["status"], json.loads(o.payload)["seq"])
        for o in outgoing
    ]


def test_a_read_covering_the_delivered_mark_is_one_event() -> None:
    events = receipt_events(result(Marks(0, 0), Marks(5, 5), ["ann"], ["ann"]), ts=1)
    assert statuses(events) == [("ann", "read", 5)]


def test_delivered_further_than_read_gives_both() -> None:
    events = receipt_events(result(Marks(0, 0), Marks(9, 5), ["ann", "cat"], ["ann"]), ts=1)
    assert statuses(events) == [
        ("ann", "delivered", 9),
        ("cat", "delivered", 9),
        ("ann", "read", 5),
    ]


def test_events_carry_a_coalescing_key_per_sender_conv_reader_and_status() -> None:
    (event,) = receipt_events(result(Marks(0, 0), Marks(3, 0), ["ann"], []), ts=1)
    assert event.coalesce_key == ("ann", "g:AAAAAAAAAAAAAAAAAAAAAA", "bob", "delivered")
    assert event.rank == 3

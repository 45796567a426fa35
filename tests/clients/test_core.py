"""The client's protocol rules, without a broker (clients.core)."""

from __future__ import annotations

from backend import wire
from clients.core import ClientCore
from clients.receipts import Receipt

DM = "dm:alice:bob"
GROUP = "g:AAAAAAAAAAAAAAAAAAAAAA"


def msg(seq: int, conv: str = DM, sender: str = "alice", **extra: object) -> wire.Message:
    return wire.Message.model_validate(
        {"conv": conv, "seq": seq, "from": sender, "ts": seq, "kind": "text", "text": "x", **extra}
    )


def group_event(seq: int, type_: str, users: list[str]) -> wire.Message:
    return wire.Message.model_validate(
        {
            "conv": GROUP,
            "seq": seq,
            "from": "alice",
            "ts": seq,
            "kind": "event",
            "event": {"type": type_, "users": users},
        }
    )


def marks(last_seq: int, delivered: int = 0, read: int = 0, **everyone: int) -> wire.ConvMarks:
    return wire.ConvMarks(
        last_seq=last_seq,
        delivered=delivered,
        read=read,
        all_delivered=everyone.get("all_delivered", 0),
        all_read=everyone.get("all_read", 0),
    )


def end(request_id: str, more: bool, convs: dict[str, wire.ConvMarks]) -> wire.SyncEnd:
    return wire.SyncEnd(id=request_id, more=more, convs=convs)


def test_a_message_seen_twice_is_shown_once() -> None:
    core = ClientCore("bob")
    assert core.on_message(msg(1))
    assert not core.on_message(msg(1))


def test_delivered_receipt_covers_only_the_contiguous_run() -> None:
    core = ClientCore("bob")
    for seq in (1, 2, 4, 5):
        core.on_message(msg(seq))
    assert core.pending_receipts() == [Receipt(DM, "delivered", 2)]
    core.on_message(msg(3))
    assert core.pending_receipts() == [Receipt(DM, "delivered", 5)]


def test_own_messages_fill_the_run_and_owe_nothing() -> None:
    core = ClientCore("bob")
    core.on_message(msg(1))
    core.receipts.confirm(Receipt(DM, "delivered", 1))
    core.on_own_message(wire.Ack(id="m", conv=DM, seq=2, ts=0))
    assert core.pending_receipts() == []
    core.on_message(msg(3))
    assert core.pending_receipts() == [Receipt(DM, "delivered", 3)]


def test_sync_request_carries_the_floors() -> None:
    core = ClientCore("bob")
    core.on_message(msg(1))
    core.on_message(msg(2))
    core.on_message(msg(7, conv="dm:bob:carol"))
    assert core.start_round("s1", 100) == {"id": "s1", "since": {DM: 2}, "limit": 100}


def test_batch_end_lifts_the_floor_to_the_servers_delivered_mark() -> None:
    core = ClientCore("bob")
    core.on_message(msg(41))  # a fresh process: 1..40 were confirmed by an earlier run
    core.on_sync_end(end("other-device", True, {DM: marks(50, delivered=40)}))
    assert core.seen.floor(DM) == 41
    assert core.pending_receipts() == [Receipt(DM, "delivered", 41)]


def test_own_complete_batch_lifts_the_floor_to_last_seq() -> None:
    core = ClientCore("bob")
    core.start_round("s1", 100)
    core.on_message(group_event(40, "member_added", ["bob"]))  # bob sees the group from 40 on
    core.on_message(msg(41, conv=GROUP))
    assert core.on_sync_end(end("s1", False, {GROUP: marks(41)}))
    assert core.seen.floor(GROUP) == 41
    assert core.pending_receipts() == [Receipt(GROUP, "delivered", 41)]
    assert core.round is None


def test_another_devices_batch_end_does_not_lift_to_last_seq() -> None:
    core = ClientCore("bob")
    core.start_round("mine", 100)
    core.on_message(msg(5))
    assert not core.on_sync_end(end("theirs", False, {DM: marks(9, delivered=2)}))
    assert core.seen.floor(DM) == 2  # the server's mark only; 3, 4 may still come
    assert core.round is not None


def test_a_stuck_batch_moves_the_floor_under_what_it_resent() -> None:
    core = ClientCore("bob")
    core.start_round("s1", 2)
    for seq in (40, 41):
        core.on_message(msg(seq))
    core.on_sync_end(end("s1", True, {DM: marks(60)}))
    assert core.seen.floor(DM) == 0  # new messages came: no conclusion yet
    core.start_round("s2", 2)
    for seq in (40, 41):
        assert not core.on_message(msg(seq))
    core.on_sync_end(end("s2", True, {DM: marks(60)}))
    assert core.seen.floor(DM) == 41
    assert core.start_round("s3", 2)["since"] == {DM: 41}


def test_no_receipts_for_a_group_the_user_left_until_added_again() -> None:
    core = ClientCore("bob")
    core.on_message(group_event(1, "created", ["alice", "bob"]))
    core.on_message(group_event(2, "member_removed", ["bob"]))
    assert core.pending_receipts() == []
    core.on_message(group_event(5, "member_added", ["bob"]))
    core.on_sync_end(end("x", False, {GROUP: marks(5, delivered=4)}))
    assert core.pending_receipts() == [Receipt(GROUP, "delivered", 5)]


def test_status_from_receipts_and_batch_ends() -> None:
    core = ClientCore("alice")
    core.on_receipt(
        wire.ReceiptEvent(
            conv=DM, by="bob", status="delivered", seq=3, ts=0, all_delivered=3, all_read=1
        )
    )
    assert core.status(DM, 3).state == "delivered"
    assert core.status(DM, 1).state == "read"
    core.on_sync_end(end("x", False, {DM: marks(4, all_delivered=4, all_read=4)}))
    assert core.status(DM, 4).state == "read"
    assert core.marks[DM].last_seq == 4


def test_mark_read_is_owed_until_confirmed() -> None:
    core = ClientCore("bob")
    core.mark_read(DM, 3)
    assert core.pending_receipts() == [Receipt(DM, "read", 3)]
    core.receipts.confirm(Receipt(DM, "read", 3))
    assert core.pending_receipts() == []

"""Loss, duplicate and gap accounting of a load phase."""

from __future__ import annotations

import pytest

from clients.bench.ledger import Ledger, seq_gaps

CONV = "dm:alice:bob"


def sent_and_acked(ledger: Ledger, request_id: str, seq: int, at: float = 0.0) -> None:
    ledger.sent(request_id, "alice", "bob", at)
    ledger.acked("alice", request_id, CONV, seq, at + 0.002)


def test_every_acked_message_delivered_once_is_ok() -> None:
    ledger = Ledger()
    for seq in (1, 2, 3):
        sent_and_acked(ledger, f"m{seq}", seq)
        ledger.delivered("bob", CONV, seq, f"m{seq}", 0.005)
    verdict = ledger.verify()
    assert verdict.ok, verdict.problems
    assert (verdict.sent, verdict.acked, verdict.delivered) == (3, 3, 3)
    assert ledger.settled


def test_latencies_are_measured_from_the_send() -> None:
    ledger = Ledger()
    sent_and_acked(ledger, "m1", 1, at=10.0)
    ledger.delivered("bob", CONV, 1, "m1", 10.05)
    assert ledger.ack_latencies_ms == [pytest.approx(2.0)]
    assert ledger.push_latencies_ms == [pytest.approx(50.0)]


def test_delivery_before_its_ack_is_matched() -> None:
    ledger = Ledger()
    ledger.sent("m1", "alice", "bob", 0.0)
    ledger.delivered("bob", CONV, 1, "m1", 0.001)
    assert not ledger.settled  # the ack is still due
    ledger.acked("alice", "m1", CONV, 1, 0.002)
    assert ledger.settled
    assert ledger.verify().ok


def test_an_acked_message_never_delivered_is_lost() -> None:
    ledger = Ledger()
    sent_and_acked(ledger, "m1", 1)
    sent_and_acked(ledger, "m2", 2)
    ledger.delivered("bob", CONV, 1, "m1", 0.01)
    verdict = ledger.verify()
    assert verdict.lost == 1
    assert verdict.problems == ["1 acked but never delivered"]
    assert not ledger.settled


def test_redelivery_is_counted_apart_and_is_not_a_problem() -> None:
    ledger = Ledger()
    sent_and_acked(ledger, "m1", 1)
    ledger.delivered("bob", CONV, 1, "m1", 0.01)
    ledger.delivered("bob", CONV, 1, "m1", 0.02)
    verdict = ledger.verify()
    assert verdict.ok
    assert (verdict.delivered, verdict.redelivered) == (1, 1)
    assert len(ledger.delivery_times) == 1  # a redelivery is not a second delivery


def test_a_repeated_ack_is_a_duplicate_ack_not_a_problem() -> None:
    ledger = Ledger()
    sent_and_acked(ledger, "m1", 1)
    ledger.acked("alice", "m1", CONV, 1, 0.01)
    ledger.delivered("bob", CONV, 1, "m1", 0.01)
    verdict = ledger.verify()
    assert verdict.ok
    assert (verdict.acked, verdict.duplicate_acks) == (1, 1)


def test_a_send_never_answered_is_unacked() -> None:
    ledger = Ledger()
    ledger.sent("m1", "alice", "bob", 0.0)
    verdict = ledger.verify()
    assert verdict.unacked == 1
    assert not verdict.ok
    assert not ledger.settled


def test_an_error_ack_is_a_refusal() -> None:
    ledger = Ledger()
    ledger.sent("m1", "alice", "bob", 0.0)
    ledger.refused("m1", "rate_limited")
    verdict = ledger.verify()
    assert (verdict.refused, verdict.unacked) == (1, 0)
    assert verdict.problems == ["1 refused with an error ack"]
    assert ledger.settled


def test_a_message_at_the_wrong_user_is_misdelivered() -> None:
    ledger = Ledger()
    sent_and_acked(ledger, "m1", 1)
    ledger.delivered("carol", CONV, 1, "m1", 0.01)
    assert ledger.verify().misdelivered == 1


def test_a_message_with_another_sends_text_is_misdelivered() -> None:
    ledger = Ledger()
    sent_and_acked(ledger, "m1", 1)
    ledger.delivered("bob", CONV, 1, "m9", 0.01)
    assert ledger.verify().misdelivered == 1


def test_one_seq_at_two_users_is_misrouted() -> None:
    ledger = Ledger()
    sent_and_acked(ledger, "m1", 1)
    ledger.delivered("bob", CONV, 1, "m1", 0.01)
    ledger.delivered("carol", CONV, 1, "m1", 0.01)
    verdict = ledger.verify()
    assert (verdict.misdelivered, verdict.redelivered) == (1, 0)


def test_an_ack_for_the_wrong_conversation_or_sender_is_misrouted() -> None:
    ledger = Ledger()
    ledger.sent("m1", "alice", "bob", 0.0)
    ledger.sent("m2", "alice", "bob", 0.0)
    ledger.acked("alice", "m1", "dm:alice:carol", 1, 0.01)
    ledger.acked("bob", "m2", CONV, 1, 0.01)
    verdict = ledger.verify()
    assert verdict.misdelivered == 2
    assert verdict.unacked == 2


def test_a_gap_in_acked_seqs_is_a_problem() -> None:
    ledger = Ledger()
    for request_id, seq in (("m1", 1), ("m2", 3)):
        sent_and_acked(ledger, request_id, seq)
        ledger.delivered("bob", CONV, seq, request_id, 0.01)
    verdict = ledger.verify()
    assert verdict.seq_gaps == 1
    assert verdict.problems == ["1 seq numbers missing inside a conversation"]


def test_one_seq_acked_for_two_sends_is_reuse() -> None:
    ledger = Ledger()
    sent_and_acked(ledger, "m1", 1)
    sent_and_acked(ledger, "m2", 1)
    ledger.delivered("bob", CONV, 1, "m1", 0.01)
    verdict = ledger.verify()
    assert verdict.seq_reused == 1
    assert verdict.unacked == 1


def test_a_delivery_nobody_acked_is_unexpected() -> None:
    ledger = Ledger()
    ledger.delivered("bob", CONV, 1, "m1", 0.01)
    assert ledger.verify().unexpected == 1


def test_seq_gaps_per_conversation() -> None:
    acked = {("a", 1), ("a", 2), ("a", 5), ("b", 2), ("c", 1)}
    assert seq_gaps(acked) == 2 + 1
    assert seq_gaps(set()) == 0

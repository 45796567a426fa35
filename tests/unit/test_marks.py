import itertools

import pytest

from backend.core.marks import (
    Marks,
    apply_receipt,
    confirmed_after_own_message,
    confirmed_after_receipt,
    conversation_minimum,
    marks_after_own_message,
)


def test_delivered_moves_forward_only() -> None:
    marks = apply_receipt(Marks(5, 3), delivered=4, read=None, last_seq=10)
    assert marks == Marks(5, 3)
    assert apply_receipt(marks, delivered=7, read=None, last_seq=10) == Marks(7, 3)


def test_read_moves_forward_only_and_implies_delivered() -> None:
    assert apply_receipt(Marks(2, 1), delivered=None, read=6, last_seq=10) == Marks(6, 6)
    assert apply_receipt(Marks(8, 6), delivered=None, read=4, last_seq=10) == Marks(8, 6)


def test_marks_are_clamped_to_the_last_seq() -> None:
    assert apply_receipt(Marks(), delivered=999, read=None, last_seq=10) == Marks(10, 0)
    assert apply_receipt(Marks(), delivered=None, read=999, last_seq=10) == Marks(10, 10)
    assert apply_receipt(Marks(), delivered=5, read=5, last_seq=0) == Marks(0, 0)


def test_both_fields_in_one_receipt() -> None:
    assert apply_receipt(Marks(), delivered=9, read=4, last_seq=10) == Marks(9, 4)
    assert apply_receipt(Marks(), delivered=2, read=4, last_seq=10) == Marks(4, 4)


@pytest.mark.parametrize("order", list(itertools.permutations([3, 7, 5, 7, 1])))
def test_out_of_order_and_duplicate_receipts_end_at_the_maximum(order: tuple[int, ...]) -> None:
    marks = Marks()
    for seq in order:
        marks = apply_receipt(marks, delivered=seq, read=None, last_seq=10)
    assert marks == Marks(7, 0)


def test_invariants_hold_for_every_small_input() -> None:
    for delivered, read, new_delivered, new_read, last in itertools.product(
        range(4), range(4), [None, 0, 2, 5], [None, 0, 3, 6], range(5)
    ):
        if read > delivered or delivered > last:
            continue
        before = Marks(delivered, read)
        after = apply_receipt(before, delivered=new_delivered, read=new_read, last_seq=last)
        assert after.delivered >= before.delivered
        assert after.read >= before.read
        assert after.read <= after.delivered <= last


def test_own_message_counts_as_read() -> None:
    assert marks_after_own_message(Marks(2, 1), 5) == Marks(5, 5)
    assert marks_after_own_message(Marks(9, 9), 5) == Marks(9, 9)


def test_conversation_minimum() -> None:
    assert conversation_minimum([Marks(5, 3), Marks(7, 1), Marks(6, 6)]) == Marks(5, 1)
    assert conversation_minimum([]) == Marks(0, 0)


def test_sync_skips_an_own_message_only_when_contiguous() -> None:
    assert confirmed_after_own_message(4, 5) == 5
    assert confirmed_after_own_message(9, 5) == 9
    # 4 is someone else's and unconfirmed: skipping to 5 would hide it from sync.
    assert confirmed_after_own_message(3, 5) == 3


def test_a_receipt_confirms_what_it_names_clamped_and_forward_only() -> None:
    assert confirmed_after_receipt(2, delivered=5, read=None, last_seq=10) == 5
    assert confirmed_after_receipt(2, delivered=None, read=7, last_seq=10) == 7
    assert confirmed_after_receipt(8, delivered=5, read=None, last_seq=10) == 8
    assert confirmed_after_receipt(0, delivered=50, read=None, last_seq=10) == 10

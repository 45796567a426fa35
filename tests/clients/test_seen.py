"""Dedupe and the contiguous floor (clients.seen)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clients.seen import SeenSeqs, SeenTracker


def test_in_order_messages_move_the_floor() -> None:
    seen = SeenSeqs()
    assert [seen.add(seq) for seq in (1, 2, 3)] == [True, True, True]
    assert seen.floor == 3
    assert not seen.has_gap


def test_a_message_seen_twice_is_new_once() -> None:
    seen = SeenSeqs()
    assert seen.add(5)
    assert not seen.add(5)
    assert seen.add(1)
    assert not seen.add(1)


def test_a_hole_holds_the_floor_until_filled() -> None:
    seen = SeenSeqs()
    seen.add(1)
    seen.add(3)
    seen.add(4)
    assert seen.floor == 1
    assert seen.has_gap
    seen.add(2)
    assert seen.floor == 4
    assert not seen.has_gap


def test_raise_floor_absorbs_what_was_seen_above_it() -> None:
    seen = SeenSeqs()
    for seq in (40, 41, 43):
        seen.add(seq)
    seen.raise_floor(39)
    assert seen.floor == 41
    assert seen.above == {43}
    assert not seen.add(40)


def test_raise_floor_never_lowers() -> None:
    seen = SeenSeqs(floor=10)
    seen.raise_floor(3)
    assert seen.floor == 10


@given(st.permutations(list(range(1, 30))))
def test_any_arrival_order_ends_with_the_full_floor(order: list[int]) -> None:
    seen = SeenSeqs()
    new = [seq for seq in order + order if seen.add(seq)]
    assert sorted(new) == list(range(1, 30))
    assert seen.floor == 29
    assert not seen.above


def test_tracker_since_and_gaps_per_conversation() -> None:
    tracker = SeenTracker()
    tracker.add("dm:a:b", 1)
    tracker.add("dm:a:b", 2)
    tracker.add("dm:a:c", 2)
    assert tracker.since() == {"dm:a:b": 2}
    assert tracker.gaps() == {"dm:a:c": 0}
    assert tracker.floor("dm:x:y") == 0

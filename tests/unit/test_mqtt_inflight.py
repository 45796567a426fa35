"""QoS 1 bookkeeping of the backend's MQTT session: packet ids, resends, PUBACK order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.mqtt.decode import Decoder
from backend.mqtt.inflight import AckQueue, Unacked, next_free_id
from backend.mqtt.packets import Publish


def test_packet_ids_count_up_wrap_and_skip_those_in_use() -> None:
    assert next_free_id(0, ()) == 1
    assert next_free_id(65_535, ()) == 1
    assert next_free_id(65_534, {65_535, 1, 2}) == 3
    with pytest.raises(RuntimeError, match="in use"):
        next_free_id(7, range(1, 65_536))


def test_unacked_publications_are_resent_in_order_with_dup() -> None:
    unacked = Unacked()
    first = unacked.add("a/1", b"one")
    unacked.add("a/2", b"two", retain=True)
    unacked.add("a/3", b"three")
    assert Decoder().feed(first) == [Publish("a/1", b"one", 1, packet_id=1)]
    assert unacked.acknowledged(2)
    assert not unacked.acknowledged(2)  # a repeated PUBACK changes nothing
    assert not unacked.acknowledged(99)
    assert len(unacked) == 2 and 1 in unacked and 2 not in unacked
    resent = Decoder().feed(unacked.for_resend())
    assert resent == [
        Publish("a/1", b"one", 1, dup=True, packet_id=1),
        Publish("a/3", b"three", 1, dup=True, packet_id=3),
    ]
    assert Decoder().feed(unacked.for_resend()) == resent  # DUP is set once, not toggled
    unacked.acknowledged(1)
    unacked.acknowledged(3)
    assert unacked.for_resend() == b""


def test_an_id_still_unacked_after_wrapping_is_skipped() -> None:
    unacked = Unacked()
    unacked.add("t", b"kept")  # id 1, never acknowledged
    for packet_id in range(2, 65_536):  # ids are handed out in turn
        unacked.add("t", b"")
        assert unacked.acknowledged(packet_id)
    assert unacked.next_id() == 2  # 1 is still waiting for its PUBACK
    assert unacked.next_id(also_in_use={3}) == 4


def test_pubacks_are_released_in_arrival_order() -> None:
    queue = AckQueue()
    for packet_id in (5, 6, 7, 8):
        assert queue.received(packet_id)
    assert queue.done(7) == []  # 5 and 6 came first
    assert queue.done(5) == [5]
    assert queue.done(8) == []
    assert queue.done(6) == [6, 7, 8]
    assert len(queue) == 0


def test_repeats_and_unknown_ids_release_nothing_twice() -> None:
    queue = AckQueue()
    assert queue.received(1)
    assert not queue.received(1)  # the broker sent it again before our PUBACK
    assert queue.done(2) == []  # never received
    assert queue.done(1) == [1]
    assert queue.done(1) == []  # one PUBACK answers both copies
    assert queue.received(1)  # the id is free again: a new message
    assert queue.done(1) == [1]


@settings(max_examples=100, deadline=None)
@given(st.permutations(list(range(1, 30))))
def test_whatever_order_handlers_finish_pubacks_follow_arrival(order: list[int]) -> None:
    queue = AckQueue()
    for packet_id in range(1, 30):
        queue.received(packet_id)
    released = [packet_id for finished in order for packet_id in queue.done(finished)]
    assert released == list(range(1, 30))

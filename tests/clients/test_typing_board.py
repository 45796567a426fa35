"""Who is shown typing, and for how long (clients.typing_board)."""

from __future__ import annotations

from backend import wire
from clients.typing_board import TYPING_SHOWN_S, TypingBoard

CONV = "dm:alice:bob"


def test_a_typing_state_lasts_six_seconds_after_the_last_one() -> None:
    board = TypingBoard()
    assert TYPING_SHOWN_S == 6.0
    assert board.update(CONV, "bob", "typing", now=100.0) is True
    assert board.typing(CONV, now=105.9) == {"bob": "typing"}
    assert board.typing(CONV, now=106.0) == {}


def test_repeats_keep_it_shown_without_being_news() -> None:
    board = TypingBoard()
    assert board.update(CONV, "bob", "typing", now=0.0) is True
    for now in (3.0, 6.0, 9.0):
        assert board.update(CONV, "bob", "typing", now=now) is False
    assert board.typing(CONV, now=14.9) == {"bob": "typing"}
    assert board.typing(CONV, now=15.0) == {}
    # After it lapsed, typing again starts a new burst.
    assert board.update(CONV, "bob", "typing", now=20.0) is True


def test_paused_ends_the_burst_at_once() -> None:
    board = TypingBoard()
    board.update(CONV, "bob", "typing", now=0.0)
    assert board.update(CONV, "bob", "paused", now=1.0) is False
    assert board.typing(CONV, now=1.0) == {}
    assert board.update(CONV, "bob", "typing", now=2.0) is True


def test_a_new_state_is_a_new_burst() -> None:
    board = TypingBoard()
    board.update(CONV, "bob", "typing", now=0.0)
    assert board.update(CONV, "bob", "recording", now=1.0) is True
    assert board.typing(CONV, now=1.0) == {"bob": "recording"}


def test_conversations_and_users_are_apart() -> None:
    board = TypingBoard()
    board.update("g:Abcdefghijklmnop", "bob", "typing", now=0.0)
    assert board.update("g:Abcdefghijklmnop", "carol", "typing", now=1.0) is True
    assert board.update(CONV, "bob", "typing", now=2.0) is True
    assert board.typing("g:Abcdefghijklmnop", now=6.5) == {"carol": "typing"}
    assert board.typing(CONV, now=6.5) == {"bob": "typing"}


def test_events_from_the_wire() -> None:
    board = TypingBoard(shown_for=1.0)
    typing = wire.TypingEvent.model_validate(
        {"conv": CONV, "from": "bob", "state": "typing", "ts": 123}
    )
    assert board.on_event(typing, now=0.0) is True
    assert board.typing(CONV, now=0.5) == {"bob": "typing"}
    assert board.typing(CONV, now=1.0) == {}

"""Status derivation for the sender (clients.status)."""

from __future__ import annotations

import pytest

from clients.status import MessageStatus, StatusBoard, message_state


@pytest.mark.parametrize(
    ("seq", "all_delivered", "all_read", "state"),
    [
        (5, 0, 0, "sent"),
        (5, 4, 0, "sent"),
        (5, 5, 0, "delivered"),
        (5, 9, 4, "delivered"),
        (5, 9, 5, "read"),
    ],
)
def test_message_state(seq: int, all_delivered: int, all_read: int, state: str) -> None:
    assert message_state(seq, all_delivered=all_delivered, all_read=all_read) == state


def test_board_moves_forward_only() -> None:
    board = StatusBoard()
    board.update("dm:a:b", all_delivered=5, all_read=3)
    board.update("dm:a:b", all_delivered=2, all_read=1)  # a new group member lowers the minimum
    assert board.status("dm:a:b", 5) == MessageStatus("delivered", 5, 3)
    assert board.status("dm:a:b", 3).state == "read"
    assert board.status("dm:a:b", 6).state == "sent"


def test_read_implies_delivered() -> None:
    board = StatusBoard()
    board.update("g:x", all_delivered=0, all_read=4)
    assert board.status("g:x", 4) == MessageStatus("read", 4, 4)


def test_unknown_conversation_is_sent() -> None:
    assert StatusBoard().status("dm:a:b", 1) == MessageStatus("sent", 0, 0)

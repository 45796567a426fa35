"""Delivered and read marks: two cursors per member of a conversation.

A mark covers every message with `seq <= mark`. Marks only move forward, never past
the conversation's last seq, and `read` implies `delivered`. A message's status is
derived from the marks, never stored per message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Marks:
    delivered: int = 0
    read: int = 0


def apply_receipt(
    current: Marks, *, delivered: int | None, read: int | None, last_seq: int
) -> Marks:
    """The marks after a receipt: clamped to `last_seq`, forward only, read implies delivered."""
    new_read = current.read
    if read is not None:
        new_read = max(current.read, min(read, last_seq))
    new_delivered = max(current.delivered, new_read)
    if delivered is not None:
        new_delivered = max(new_delivered, min(delivered, last_seq))
    return Marks(delivered=new_delivered, read=new_read)


def marks_after_own_message(current: Marks, seq: int) -> Marks:
    """A sender's own message counts as delivered to and read by the sender."""
    return Marks(delivered=max(current.delivered, seq), read=max(current.read, seq))


def confirmed_after_own_message(confirmed: int, seq: int) -> int:
    """What sync may skip after the member's own message `seq`: only a contiguous step.

    The receipt marks jump over everything before an own message (it counts as read),
    but sync must not: a message of someone else committed just before it, whose push
    was lost, would otherwise never reach the sender by sync.
    """
    return max(confirmed, seq) if confirmed >= seq - 1 else confirmed


def confirmed_after_receipt(
    confirmed: int, *, delivered: int | None, read: int | None, last_seq: int
) -> int:
    """What a receipt confirms (read implies delivered), clamped, forward only.

    The store then moves it over the run of the member's own messages that follows.
    """
    return max(confirmed, min(max(delivered or 0, read or 0), last_seq))


def conversation_minimum(marks: Iterable[Marks]) -> Marks:
    """The highest seq delivered to / read by every member: the minimum over members."""
    all_marks = list(marks)
    if not all_marks:
        return Marks()
    return Marks(
        delivered=min(mark.delivered for mark in all_marks),
        read=min(mark.read for mark in all_marks),
    )

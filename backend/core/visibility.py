"""Who sees which messages of a conversation.

A member sees a conversation from the message that added it (`joined_seq`) on, and, once
removed, up to the message that removed it (`left_seq`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    """The seqs a member may see: `first <= seq <= last`; empty when `first > last`."""

    first: int
    last: int

    def __contains__(self, seq: object) -> bool:
        return isinstance(seq, int) and self.first <= seq <= self.last

    @property
    def empty(self) -> bool:
        return self.first > self.last


def visible_window(*, joined_seq: int, left_seq: int | None, last_seq: int) -> Window:
    """The window of a membership given the conversation's current last seq."""
    last = last_seq if left_seq is None else min(left_seq, last_seq)
    return Window(first=max(joined_seq, 1), last=last)


def sync_window(window: Window, *, confirmed: int, since: int) -> Window:
    """What a sync returns of a conversation: visible, and past both what the member
    confirmed and `since`."""
    return Window(first=max(window.first, confirmed + 1, since + 1), last=window.last)

"""A sent message's status, derived from the conversation's `all_delivered` / `all_read`.

As in the server, status is never stored per message: a message is `read` once every
member has read up to it, `delivered` once every member has it, `sent` before that.
The client keeps the highest marks it has been told of, from `in/receipt` and from sync
batch ends; they only move forward here, so a status once shown never regresses (a new
group member lowers the server's minimum, but does not un-deliver old messages).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

State = Literal["sent", "delivered", "read"]


@dataclass(frozen=True, slots=True)
class MessageStatus:
    """What the sender shows for a message, with the marks it was derived from."""

    state: State
    all_delivered: int
    all_read: int


def message_state(seq: int, *, all_delivered: int, all_read: int) -> State:
    """`read` if everyone read it, `delivered` if everyone has it, else `sent`."""
    if seq <= all_read:
        return "read"
    if seq <= all_delivered:
        return "delivered"
    return "sent"


@dataclass(slots=True)
class _Everyone:
    delivered: int = 0
    read: int = 0


@dataclass
class StatusBoard:
    """The highest `all_delivered` / `all_read` heard of, per conversation."""

    convs: dict[str, _Everyone] = field(default_factory=dict)

    def update(self, conv: str, *, all_delivered: int, all_read: int) -> None:
        """Move the conversation's marks forward (read implies delivered)."""
        marks = self.convs.setdefault(conv, _Everyone())
        marks.read = max(marks.read, all_read)
        marks.delivered = max(marks.delivered, all_delivered, marks.read)

    def status(self, conv: str, seq: int) -> MessageStatus:
        """The status of message `seq` of `conv`, as far as this board knows."""
        marks = self.convs.get(conv, _Everyone())
        state = message_state(seq, all_delivered=marks.delivered, all_read=marks.read)
        return MessageStatus(state, marks.delivered, marks.read)

"""The client's protocol state, without I/O: what it has seen, owes, and knows of its sends.

`ClientCore` is fed decoded events in arrival order and answers what to show, which
receipts to send and what to put in the next sync request; `ChatClient` does the
talking. Keeping the rules here (as h11 does for HTTP) lets them be tested exhaustively
without a broker.

The sync rules, since they decide whether a message can be lost:
- a conversation's *floor* (see `clients.seen`) is the sync request's `since` and the
  only `delivered` mark ever sent, so nothing unseen is ever confirmed;
- a batch end lifts the floor to the server's own delivered mark (the server will not
  resend below it);
- this client's batch end with `more: false` lifts it to `last_seq`: the server published
  every message up to there the user may see before the end, and QoS 1 keeps them ahead
  of it. That is what clears holes the user may not see (before it joined a group);
- a `more: true` batch that brought nothing new means the server keeps resending seqs
  this client has while a hole sits below them: nothing the user may see is in that
  hole, so the floor moves to just under the lowest seq the batch resent.
Another device of the same user shares the inbox topics, so its batch ends arrive too;
they are trusted for the server's marks only, never for `last_seq`.

A user removed from a group (or who left it) owes that group no receipts: the server
would answer them with `not_member`. The group's event messages say when that happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend import wire
from clients.receipts import Receipt, ReceiptBook
from clients.seen import SeenTracker
from clients.status import MessageStatus, StatusBoard


@dataclass
class SyncRound:
    """One sync request of this client, until its batch end arrives."""

    id: str
    new_messages: int = 0
    lowest_seq: dict[str, int] = field(default_factory=dict)

    def note(self, conv: str, seq: int, *, new: bool) -> None:
        """A message arrived while this round was open."""
        self.new_messages += new
        self.lowest_seq[conv] = min(seq, self.lowest_seq.get(conv, seq))


class ClientCore:
    """Seen messages, receipts owed, senders' statuses and sync rounds of one client."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.left: set[str] = set()
        self.seen = SeenTracker()
        self.receipts = ReceiptBook()
        self.statuses = StatusBoard()
        self.marks: dict[str, wire.ConvMarks] = {}
        self.round: SyncRound | None = None

    def on_message(self, message: wire.Message) -> bool:
        """Record an incoming message; True if it is new and should be shown."""
        new = self.seen.add(message.conv, message.seq)
        if message.event is not None:
            self._track_membership(message.conv, message.event)
        if self.round is not None:
            self.round.note(message.conv, message.seq, new=new)
        self._want_delivered(message.conv)
        return new

    def on_own_message(self, ack: wire.Ack) -> None:
        """An ack: a message of this user (from this device or another) that it never
        receives on `in/msg`. It counts as seen, and the server has it as read."""
        self.seen.add(ack.conv, ack.seq)
        self.receipts.server_has_at_least(ack.conv, delivered=ack.seq, read=ack.seq)
        self._want_delivered(ack.conv)

    def on_receipt(self, event: wire.ReceiptEvent) -> None:
        """A receipt update for this user's messages moves their status forward."""
        self.statuses.update(event.conv, all_delivered=event.all_delivered, all_read=event.all_read)

    def mark_read(self, conv: str, seq: int) -> None:
        """The user has read `conv` up to `seq`: a `read` receipt is owed."""
        self.receipts.want(conv, read=seq)

    def pending_receipts(self) -> list[Receipt]:
        """The receipts owed now, leaving out groups this user is no longer in."""
        return [receipt for receipt in self.receipts.pending() if receipt.conv not in self.left]

    def start_round(self, request_id: str, limit: int) -> dict[str, Any]:
        """Begin a sync round; returns the request to publish."""
        self.round = SyncRound(request_id)
        return {"id": request_id, "since": self.seen.since(), "limit": limit}

    def abandon_round(self) -> None:
        """The round's answer will not be waited for (timeout, disconnect)."""
        self.round = None

    def on_sync_end(self, end: wire.SyncEnd) -> bool:
        """Apply a batch end; True if it ends this client's current round."""
        for conv, marks in end.convs.items():
            self.marks[conv] = marks
            self.statuses.update(conv, all_delivered=marks.all_delivered, all_read=marks.all_read)
            # `confirmed` (an extension) is where the server's sync starts; `delivered` can be
            # above it when own messages jumped the mark over one this client never saw.
            floor = marks.confirmed if marks.confirmed is not None else marks.delivered
            self.seen.raise_floor(conv, floor)
            self.receipts.server_has(conv, delivered=marks.delivered, read=marks.read)
        own = self.round is not None and self.round.id == end.id
        if own:
            self._finish_round(end)
        for conv in end.convs:
            self._want_delivered(conv)
        return own

    def status(self, conv: str, seq: int) -> MessageStatus:
        """The status of a message this user sent."""
        return self.statuses.status(conv, seq)

    def gaps(self) -> dict[str, int]:
        """The floor of every conversation with a hole below a seen message."""
        return self.seen.gaps()

    def _finish_round(self, end: wire.SyncEnd) -> None:
        assert self.round is not None
        finished, self.round = self.round, None
        if not end.more:
            for conv, marks in end.convs.items():
                self.seen.raise_floor(conv, marks.last_seq)
        elif finished.new_messages == 0:
            for conv, lowest in finished.lowest_seq.items():
                self.seen.raise_floor(conv, lowest - 1)

    def _track_membership(self, conv: str, event: wire.GroupEvent) -> None:
        if self.user not in event.users:
            return
        if event.type in ("member_removed", "member_left"):
            self.left.add(conv)
        elif event.type in ("created", "member_added"):
            self.left.discard(conv)

    def _want_delivered(self, conv: str) -> None:
        self.receipts.want(conv, delivered=self.seen.floor(conv))

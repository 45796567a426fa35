"""How receipts are shown: ticks on the user's own messages, and a message's receipt table.

`TickTracker` turns the acks of the user's sends and the `in/receipt` events into tick
lines, WhatsApp-style: one tick when the server stored a message, two when it reached
everyone, "read" when everyone read it. The status of a message comes from the
conversation's `all_delivered` / `all_read` (as `clients.status` derives it), so in a
group a message shows "delivered to all" only once every member has it.

A receipt covers every message up to a mark, so one event may settle several messages:
the line names the newest of them. The tracker knows the user's messages from the acks
it saw; for messages sent before it started (no ack seen) it says what the mark covers:
`[dm:alice:bob] ✓✓ delivered to bob, up to #5`.

Pure: no I/O, no clock (the receipt table takes its time zone as an argument).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Literal

from backend import wire
from backend.ids import is_group_conv
from clients.models import MemberReceipt

TickState = Literal["sent", "delivered", "read"]
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
NOT_YET = "-"


@dataclass(frozen=True, slots=True)
class Tick:
    """A message of the user's reached `state`.

    `seq` is the message, or None when the tracker knows no message of the user's that
    the receipt covers: then `up_to` is the mark that moved. `reader` is who got or read
    it in a 1:1 conversation; None in a group, where the tick stands for every member.
    """

    conv: str
    state: TickState
    seq: int | None
    reader: str | None = None
    up_to: int | None = None


def format_tick(tick: Tick) -> str:
    """`[dm:alice:bob #3] ✓✓ read by bob`, `[g:Xq3 #5] ✓✓ delivered to all`, `... ✓ sent`."""
    if tick.state == "sent":
        words = "✓ sent"
    else:
        whom = tick.reader or "all"
        words = f"✓✓ delivered to {whom}" if tick.state == "delivered" else f"✓✓ read by {whom}"
    if tick.seq is not None:
        return f"[{tick.conv} #{tick.seq}] {words}"
    return f"[{tick.conv}] {words}, up to #{tick.up_to}"


@dataclass(slots=True)
class _ConvTicks:
    own: set[int] = field(default_factory=set)
    delivered: int = 0  # the highest all_delivered already shown (or known before)
    read: int = 0


class TickTracker:
    """The ticks already shown, per conversation, and the user's messages still to tick."""

    def __init__(self) -> None:
        self._convs: dict[str, _ConvTicks] = {}

    def on_ack(self, ack: wire.Ack) -> Tick:
        """The server stored a message of the user's (sent from this or another device)."""
        self._of(ack.conv).own.add(ack.seq)
        return Tick(ack.conv, "sent", ack.seq)

    def known(self, conv: str, *, all_delivered: int, all_read: int) -> None:
        """Marks the user already knew (a sync batch end): no tick for what they cover."""
        ticks = self._of(conv)
        ticks.read = max(ticks.read, all_read)
        ticks.delivered = max(ticks.delivered, all_delivered, ticks.read)
        self._forget_read(ticks)

    def on_receipt(self, event: wire.ReceiptEvent) -> list[Tick]:
        """The ticks a receipt event earns: read first, then delivered (at most one each)."""
        ticks = self._of(event.conv)
        reader = None if is_group_conv(event.conv) else event.by
        all_read = event.all_read
        all_delivered = max(event.all_delivered, all_read)
        shown = [
            self._tick(event.conv, "read", ticks.read, all_read, reader),
            # A message read now needs no "delivered" tick of its own.
            self._tick(
                event.conv, "delivered", max(ticks.delivered, all_read), all_delivered, reader
            ),
        ]
        ticks.read = max(ticks.read, all_read)
        ticks.delivered = max(ticks.delivered, all_delivered)
        self._forget_read(ticks)
        return [tick for tick in shown if tick is not None]

    def _tick(
        self, conv: str, state: TickState, after: int, up_to: int, reader: str | None
    ) -> Tick | None:
        """The tick for the mark moving from `after` to `up_to`, if it earns one."""
        if up_to <= after:
            return None
        own = self._of(conv).own
        covered = [seq for seq in own if after < seq <= up_to]
        if covered:
            return Tick(conv, state, max(covered), reader)
        # Messages the tracker knows are still waiting: the mark moved over others' only.
        # Knowing none, the receipt is about messages sent before it started: say how far.
        return None if own else Tick(conv, state, None, reader, up_to)

    def _of(self, conv: str) -> _ConvTicks:
        return self._convs.setdefault(conv, _ConvTicks())

    @staticmethod
    def _forget_read(ticks: _ConvTicks) -> None:
        # A read message gets no more ticks: keep only those that may still change.
        ticks.own = {seq for seq in ticks.own if seq > ticks.read}


def format_receipt_table(receipts: Sequence[MemberReceipt], tz: tzinfo) -> list[str]:
    """A message's receipts as aligned lines: user, when delivered, when read (`-`: not yet).

    Times are shown in `tz` (the CLI passes the local time zone).
    """
    rows = [("user", "delivered", "read")] + [
        (receipt.user, local_time(receipt.delivered_ts, tz), local_time(receipt.read_ts, tz))
        for receipt in receipts
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    return [
        f"{user:<{widths[0]}}  {delivered:<{widths[1]}}  {read}".rstrip()
        for user, delivered, read in rows
    ]


def local_time(timestamp_ms: int | None, tz: tzinfo) -> str:
    """`2025-11-29 10:31:02` in `tz`, or `-` for None."""
    if timestamp_ms is None:
        return NOT_YET
    return datetime.fromtimestamp(timestamp_ms / 1000, tz).strftime(TIME_FORMAT)

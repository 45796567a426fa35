"""The receipts a client owes the server, coalesced per conversation.

Receipts are cumulative (`delivered: 42` covers every seq up to 42), so a burst of
messages needs one receipt, not one each: the client records the mark it *wants* the
server to have and the mark the server is known to *have*, and sends only the
difference, whenever it gets round to it. `read` implies `delivered`.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ReceiptKind = Literal["delivered", "read"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """One receipt to publish: `{"conv": conv, kind: seq}`."""

    conv: str
    kind: ReceiptKind
    seq: int

    def to_wire(self) -> dict[str, Any]:
        """The receipt's JSON object."""
        return {"conv": self.conv, self.kind: self.seq}


@dataclass(slots=True)
class _ConvMarks:
    delivered: int = 0
    read: int = 0


@dataclass
class ReceiptBook:
    """What this client wants the server's marks to be, and what the server has."""

    wanted: dict[str, _ConvMarks] = field(default_factory=dict)
    confirmed: dict[str, _ConvMarks] = field(default_factory=dict)

    def want(self, conv: str, *, delivered: int = 0, read: int = 0) -> None:
        """Ask for the marks to reach at least these values (never lowers a wish)."""
        marks = self.wanted.setdefault(conv, _ConvMarks())
        marks.read = max(marks.read, read)
        marks.delivered = max(marks.delivered, delivered, marks.read)

    def confirm(self, receipt: Receipt) -> None:
        """The server accepted `receipt` (its PUBACK arrived)."""
        self.server_has_at_least(
            receipt.conv,
            delivered=receipt.seq,
            read=receipt.seq if receipt.kind == "read" else 0,
        )

    def server_has_at_least(self, conv: str, *, delivered: int, read: int) -> None:
        """The server's marks are known to be at least these (e.g. its own message)."""
        marks = self.confirmed.setdefault(conv, _ConvMarks())
        marks.read = max(marks.read, read)
        marks.delivered = max(marks.delivered, delivered, marks.read)

    def server_has(self, conv: str, *, delivered: int, read: int) -> None:
        """The server reported its marks (a sync batch end): believe it, even if lower.

        A receipt acknowledged by a broker that was killed before passing it on is
        lost; the server's own report is what lets the client notice and send it again.
        """
        self.confirmed[conv] = _ConvMarks(delivered=max(delivered, read), read=read)

    def pending(self) -> list[Receipt]:
        """The receipts to publish now: per conversation, `read` if it moved, then `delivered`
        if it moved further than the `read` being sent covers."""
        receipts: list[Receipt] = []
        for conv, wanted in self.wanted.items():
            have = self.confirmed.get(conv, _ConvMarks())
            covered = have.delivered
            if wanted.read > have.read:
                receipts.append(Receipt(conv, "read", wanted.read))
                covered = max(covered, wanted.read)
            if wanted.delivered > covered:
                receipts.append(Receipt(conv, "delivered", wanted.delivered))
        return receipts

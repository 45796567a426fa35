"""What reached whom, and the numbers of one sampling window: pure bookkeeping.

Losses are judged per user and conversation from seq numbers alone: seqs are gapless,
so a member has everything once its contiguous prefix reaches the conversation's last
acked seq. A user's own messages count as had when their ack arrives (the contract
sends them to the other members only).
"""

from __future__ import annotations

from collections.abc import MutableSequence
from dataclasses import dataclass, field

from clients.bench.stats import percentile


class SeqTracker:
    """The seqs of one conversation a user has: a contiguous prefix and those past it."""

    __slots__ = ("ahead", "prefix")

    def __init__(self) -> None:
        self.prefix = 0
        self.ahead: set[int] = set()

    def add(self, seq: int) -> bool:
        """Record `seq`; False if it was had already (a redelivery)."""
        if seq <= self.prefix or seq in self.ahead:
            return False
        self.ahead.add(seq)
        while self.prefix + 1 in self.ahead:
            self.prefix += 1
            self.ahead.remove(self.prefix)
        return True


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Members missing messages at the end: how many (user, conv) pairs, how many seqs."""

    pairs: int
    seqs: int
    examples: tuple[str, ...]
    users: frozenset[str] = frozenset()


@dataclass
class Deliveries:
    """Who must receive each conversation, its last acked seq, and what each member has."""

    members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)
    _have: dict[tuple[str, str], SeqTracker] = field(default_factory=dict)

    def conversation(self, conv: str, members: tuple[str, ...], first_seq: int = 0) -> None:
        """Register a conversation (a group starts at seq 1, its `created` event)."""
        self.members.setdefault(conv, members)
        self.last_seq[conv] = max(self.last_seq.get(conv, 0), first_seq)

    def seen(self, user: str, conv: str, seq: int) -> bool:
        """`user` has `seq` of `conv` (pushed, synced, or its own acked); False if again."""
        tracker = self._have.get((user, conv))
        if tracker is None:
            tracker = self._have[(user, conv)] = SeqTracker()
        return tracker.add(seq)

    def acked(self, sender: str, conv: str, seq: int) -> None:
        """The server stored `seq` of `conv` from `sender`."""
        self.last_seq[conv] = max(self.last_seq.get(conv, 0), seq)
        self.seen(sender, conv, seq)

    def prefix(self, user: str, conv: str) -> int:
        """The highest seq up to which `user` has every message of `conv`."""
        tracker = self._have.get((user, conv))
        return tracker.prefix if tracker else 0

    def shortfall(self) -> Shortfall:
        """Every member short of its conversation's last seq."""
        pairs = seqs = 0
        examples: list[str] = []
        users: set[str] = set()
        for conv, members in self.members.items():
            last = self.last_seq.get(conv, 0)
            for user in members:
                short = last - self.prefix(user, conv)
                if short > 0:
                    pairs += 1
                    seqs += short
                    users.add(user)
                    if len(examples) < 5:
                        examples.append(f"{user} has {conv} up to {last - short} of {last}")
        return Shortfall(pairs, seqs, tuple(examples), frozenset(users))

    @property
    def complete(self) -> bool:
        return self.shortfall().pairs == 0


@dataclass
class Window:
    """Counts and push latencies of one sampling window (and, kept apart, of the run)."""

    sent: int = 0
    acked: int = 0
    refused: int = 0
    live: int = 0
    synced: int = 0
    redelivered: int = 0
    receipts_sent: int = 0
    receipt_events: int = 0
    presence: int = 0
    errors: int = 0
    reconnects: int = 0
    # A list per window; the run's totals use an array("d") (millions of them, 8 bytes each).
    latencies_ms: MutableSequence[float] = field(default_factory=list)
    ack_latencies_ms: MutableSequence[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """The window's counts, its p50 / p99 / max push latency and p99 ack latency (ms)."""
        ordered = sorted(self.latencies_ms)
        counts = {name: float(value) for name, value in vars(self).items() if _is_count(name)}
        return counts | {
            "p50_ms": percentile(ordered, 50),
            "p99_ms": percentile(ordered, 99),
            "max_ms": ordered[-1] if ordered else float("nan"),
            "ack_p99_ms": percentile(sorted(self.ack_latencies_ms), 99),
        }

    def add_to(self, total: Window) -> None:
        """Fold this window into the run's totals (latencies included)."""
        for name, value in vars(self).items():
            if _is_count(name):
                setattr(total, name, getattr(total, name) + value)
            else:
                getattr(total, name).extend(value)


def _is_count(name: str) -> bool:
    return not name.endswith("latencies_ms")

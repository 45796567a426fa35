"""Which messages a client has seen, per conversation: the dedupe set and the contiguous floor.

A conversation's messages are numbered 1, 2, 3, ... with no gaps, but a client may see
them out of order (a live message overtaking a sync batch) or more than once (a broker
redelivery, a sync after a queued delivery). `SeenSeqs` answers "is this one new?" and
keeps the *floor*: the highest seq up to which the client has seen every message it will
be given. Only the floor may be confirmed as delivered and used as a sync's `since`:
confirming a seq past a hole would make the server skip the hole for good.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SeenSeqs:
    """The seqs of one conversation seen so far: all of `1..floor`, plus `above`."""

    floor: int = 0
    above: set[int] = field(default_factory=set)

    def add(self, seq: int) -> bool:
        """Record `seq`; True if it was not seen before."""
        if seq <= self.floor or seq in self.above:
            return False
        self.above.add(seq)
        self._absorb()
        return True

    def raise_floor(self, to: int) -> None:
        """Declare every seq up to `to` seen (or never to be given); never lowers the floor."""
        if to <= self.floor:
            return
        self.floor = to
        self.above = {seq for seq in self.above if seq > to}
        self._absorb()

    @property
    def has_gap(self) -> bool:
        """True when a later message was seen but one between it and the floor was not."""
        return bool(self.above)

    def _absorb(self) -> None:
        while self.floor + 1 in self.above:
            self.floor += 1
            self.above.remove(self.floor)


@dataclass
class SeenTracker:
    """`SeenSeqs` for every conversation the client has heard of."""

    convs: dict[str, SeenSeqs] = field(default_factory=dict)

    def add(self, conv: str, seq: int) -> bool:
        """Record a message; True if it is new to this client."""
        return self._of(conv).add(seq)

    def raise_floor(self, conv: str, to: int) -> None:
        """See `SeenSeqs.raise_floor`."""
        self._of(conv).raise_floor(to)

    def floor(self, conv: str) -> int:
        """Every seq of `conv` up to this one has been seen."""
        seen = self.convs.get(conv)
        return seen.floor if seen else 0

    def since(self) -> dict[str, int]:
        """A sync request's `since`: the floor of every conversation that has one."""
        return {conv: seen.floor for conv, seen in self.convs.items() if seen.floor > 0}

    def gaps(self) -> dict[str, int]:
        """The floor of every conversation with a hole below a seen message."""
        return {conv: seen.floor for conv, seen in self.convs.items() if seen.has_gap}

    def _of(self, conv: str) -> SeenSeqs:
        return self.convs.setdefault(conv, SeenSeqs())

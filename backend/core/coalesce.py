"""Coalescing bursts: the first event of a key goes out at once; while a burst lasts,
later ones are held and only the highest-ranked is sent when the window closes.

Receipt events use it: a client acknowledging 200 messages one by one causes 2 events
for the sender, not 200, and an isolated receipt is not delayed at all.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Coalescer(Generic[T]):
    """Per key: send now, or hold the best item until the key's window closes."""

    window_ms: int
    _held: dict[Hashable, tuple[int, T]] = field(default_factory=dict)
    _window_end: dict[Hashable, int] = field(default_factory=dict)

    def offer(self, key: Hashable, item: T, rank: int, now: int) -> T | None:
        """The item, if it may go out now; otherwise None, and it is held (if it ranks higher)."""
        end = self._window_end.get(key)
        if end is None or now >= end:
            self._window_end[key] = now + self.window_ms
            return item
        held = self._held.get(key)
        if held is None or rank >= held[0]:
            self._held[key] = (rank, item)
        return None

    def due(self, now: int) -> list[T]:
        """Items whose window has closed; each sent one opens a new window for its key."""
        ready = []
        for key, end in list(self._window_end.items()):
            if now < end:
                continue
            held = self._held.pop(key, None)
            if held is None:
                del self._window_end[key]
            else:
                ready.append(held[1])
                self._window_end[key] = now + self.window_ms
        return ready

    def next_deadline(self) -> int | None:
        """When `due` next has something to do, or None when nothing is held."""
        ends = [self._window_end[key] for key in self._held]
        return min(ends) if ends else None

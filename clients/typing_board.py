"""Who is typing, as the contract says to show it: for at most 6 s after the last `typing`.

Senders repeat their state every few seconds while it lasts (`ChatClient.typing_in`
does it every 3 s), so a state that is not repeated has lapsed: the sender stopped, or
left without saying `paused`. A *burst* is one stretch of showing a user typing; it is
what a UI announces once ("bob is typing...") rather than at every repeat.

Pure: the caller passes `now` (seconds on any monotonic clock; the receiving side's,
never the server's `ts`, so that clock skew between machines does not matter).
"""

from __future__ import annotations

from dataclasses import dataclass

from backend import wire

TYPING_SHOWN_S = 6.0


@dataclass(slots=True)
class _Shown:
    state: wire.TypingState
    last: float


class TypingBoard:
    """The typing states being shown, per conversation and user."""

    def __init__(self, shown_for: float = TYPING_SHOWN_S) -> None:
        self.shown_for = shown_for
        self._shown: dict[tuple[str, str], _Shown] = {}

    def update(self, conv: str, user: str, state: wire.TypingState, now: float) -> bool:
        """Record `user`'s state in `conv`; True if it starts a burst (so it is news).

        `paused` ends the burst at once; a different state (`typing` after `recording`)
        starts a new one.
        """
        self._expire(now)
        key = (conv, user)
        if state == "paused":
            self._shown.pop(key, None)
            return False
        previous = self._shown.get(key)
        self._shown[key] = _Shown(state, now)
        return previous is None or previous.state != state

    def on_event(self, event: wire.TypingEvent, now: float) -> bool:
        """`update` from an `in/typing` event."""
        return self.update(event.conv, event.sender, event.state, now)

    def typing(self, conv: str, now: float) -> dict[str, wire.TypingState]:
        """Who is shown typing (or recording) in `conv` at `now`, with their state."""
        self._expire(now)
        return {user: shown.state for (where, user), shown in self._shown.items() if where == conv}

    def _expire(self, now: float) -> None:
        lapsed = [key for key, shown in self._shown.items() if now - shown.last >= self.shown_for]
        for key in lapsed:
            del self._shown[key]

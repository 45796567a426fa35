"""One line of progress on stderr, rewritten in place on a terminal."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO


class ProgressLine:
    """`update` rewrites the live line (terminals only); `note` leaves a line behind."""

    def __init__(self, stream: TextIO | None = None, *, live: bool = True) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._live = live and self._stream.isatty()
        self._shown = 0

    def update(self, text: str) -> None:
        """Show `text` as the current state, replacing the previous one."""
        if not self._live:
            return
        width = shutil.get_terminal_size().columns - 1
        text = text[:width]
        self._stream.write("\r" + text.ljust(self._shown))
        self._stream.flush()
        self._shown = len(text)

    def note(self, text: str) -> None:
        """Print `text` on a line of its own, clearing the live line first."""
        self.clear()
        self._stream.write(text + "\n")
        self._stream.flush()

    def clear(self) -> None:
        """Erase the live line."""
        if self._shown:
            self._stream.write("\r" + " " * self._shown + "\r")
            self._shown = 0

"""What a failed SQLite transaction means to a client, and how it is logged.

A full disk, an I/O error or a database locked for too long is the server's trouble,
not the request's: the client is told `unavailable` (retry later with the same id) and
nothing was stored. Anything else stays what it is (a bug: logged, left unanswered).
"""

from __future__ import annotations

import logging
import sqlite3
import time

from backend.errors import Unavailable

log = logging.getLogger("backend.store.sqlite")

_UNAVAILABLE_CODES = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY}
LOG_EVERY = 100


def unavailable_or_same(exc: Exception) -> Exception:
    """`Unavailable` for a full or failing disk or a database locked too long; any other
    exception unchanged."""
    code = getattr(exc, "sqlite_errorcode", None)
    # The primary code (low byte) of an extended one such as SQLITE_IOERR_WRITE.
    if (
        isinstance(exc, sqlite3.OperationalError)
        and code is not None
        and (code & 0xFF in _UNAVAILABLE_CODES)
    ):
        return Unavailable(f"the server cannot store anything now ({exc}); retry later")
    return exc


class FailureLog:
    """Logs a spell of failed transactions once, then a line per `LOG_EVERY`, then its end.

    With a full disk every client's retry fails: a line each would flood the log.
    """

    def __init__(self) -> None:
        self.failures = 0
        self._since: float | None = None

    def failed(self, jobs: int, exc: Exception, error: Exception) -> None:
        """A transaction of `jobs` failed with `exc` (told to clients as `error`)."""
        self.failures += 1
        if self._since is None or not isinstance(error, Unavailable):
            self._since = self._since or time.monotonic()
            log.error("store transaction of %d jobs failed: %r", jobs, exc)
        elif self.failures % LOG_EVERY == 0:
            since = time.monotonic() - self._since
            log.error("the store failed %d times in %.0fs: %r", self.failures, since, exc)

    def committed(self) -> None:
        """A transaction committed: the spell, if any, is over."""
        if self._since is not None:
            log.warning("the store commits again after %d failed transactions", self.failures)
        self._since, self.failures = None, 0

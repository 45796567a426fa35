"""What a failed store transaction tells the client (backend.store.sqlite_errors)."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from backend.errors import Unavailable
from backend.store.sqlite_errors import LOG_EVERY, FailureLog, unavailable_or_same


def sqlite_error(code: int, message: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # what the sqlite3 module sets on errors it raises
    return error


@pytest.mark.parametrize(
    "code",
    [sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_IOERR_WRITE, sqlite3.SQLITE_BUSY],
)
def test_a_full_or_failing_disk_is_unavailable(code: int) -> None:
    error = unavailable_or_same(sqlite_error(code, "database or disk is full"))
    assert isinstance(error, Unavailable)
    assert error.code == "unavailable" and error.http_status == 503


def test_anything_else_stays_what_it_is() -> None:
    for original in (sqlite_error(sqlite3.SQLITE_CONSTRAINT, "x"), RuntimeError("bug")):
        assert unavailable_or_same(original) is original


def test_a_spell_of_failures_is_logged_once_then_sparsely(caplog: pytest.LogCaptureFixture) -> None:
    failures = FailureLog()
    exc = sqlite_error(sqlite3.SQLITE_FULL, "database or disk is full")
    error = unavailable_or_same(exc)
    with caplog.at_level(logging.WARNING, logger="backend.store.sqlite"):
        for _ in range(LOG_EVERY * 2):
            failures.failed(1, exc, error)
        failures.committed()
        failures.committed()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 4, messages  # the first, each hundredth, and the end
    assert "commits again after 200" in messages[-1]

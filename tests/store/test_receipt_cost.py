"""A receipt costs the same however many messages it covers: statements and rows written."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

import pytest

from backend.store import queries
from backend.store.base import NewUser, ReceiptCommand, SendCommand
from backend.store.sqlite_accounts import add_users
from backend.store.sqlite_messages import apply_receipt, send

DM = "dm:alice:bob"


def database(path: Path, messages: int) -> sqlite3.Connection:
    db = sqlite3.connect(path / "cost.db", isolation_level=None)
    db.row_factory = sqlite3.Row
    db.executescript(resources.files("backend.store").joinpath("schema.sql").read_text())
    add_users(
        db,
        [
            NewUser("alice", "+10000000001", "", b"a" * 32),
            NewUser("bob", "+10000000002", "", b"b" * 32),
        ],
        now=1,
    )
    send(db, SendCommand("alice", "first", DM, "text", "x", None, 1))  # creates the dm
    db.execute("BEGIN")
    db.executemany(
        queries.INSERT_MESSAGE,
        ((DM, seq, "alice", f"m{seq}", seq, "text", "x", None) for seq in range(2, messages + 1)),
    )
    db.execute("UPDATE conversations SET last_seq = ? WHERE conv = ?", (messages, DM))
    db.execute("COMMIT")
    return db


def cost_of_reading_everything(db: sqlite3.Connection, messages: int) -> tuple[int, int]:
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    changes_before = db.total_changes
    result = apply_receipt(db, ReceiptCommand("bob", DM, delivered=None, read=messages, ts=99))
    db.set_trace_callback(None)
    assert result.after.read == messages
    assert list(result.notify_read) == ["alice"]
    return len(statements), db.total_changes - changes_before


@pytest.mark.parametrize("messages", [10, 10_000])
def test_a_read_receipt_writes_a_constant_number_of_rows(tmp_path: Path, messages: int) -> None:
    statements, rows = cost_of_reading_everything(database(tmp_path, messages), messages)
    # One member row updated and one log row per mark that moved (delivered and read).
    assert rows == 3
    assert statements <= 10


def test_the_cost_does_not_grow_with_the_messages_covered(tmp_path: Path) -> None:
    costs = []
    for messages in (10, 10_000):
        folder = tmp_path / str(messages)
        folder.mkdir()
        costs.append(cost_of_reading_everything(database(folder, messages), messages))
    assert costs[0] == costs[1]

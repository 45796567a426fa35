"""Row helpers shared by the SQLite store's operations.

Each function runs whole on the store's writer or reader thread (see sqlite.py), so an
operation of eight statements costs one thread hop, not eight. Write operations run
inside the writer's transaction, each in a savepoint: a `ChatError` undoes only its own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from backend.core.visibility import Window, visible_window
from backend.errors import NotMember, UnknownConversation
from backend.store import queries
from backend.store.base import (
    User,
)
from backend.wire import MediaInfo, Message


def fetchone(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(sql, params).fetchone()
    return row


def fetchall(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
    return db.execute(sql, params).fetchall()


def membership_row(db: sqlite3.Connection, user: str, conv: str) -> sqlite3.Row:
    """The user's membership joined with its conversation; raises if there is none."""
    row = fetchone(db, queries.MEMBERSHIP_WITH_CONV, (conv, user))
    if row is not None:
        return row
    if fetchone(db, queries.CONVERSATION, (conv,)) is None:
        raise UnknownConversation(f"no conversation {conv}")
    raise NotMember(f"you are not a member of {conv}")


def window_of(row: sqlite3.Row) -> Window:
    return visible_window(
        joined_seq=row["joined_seq"], left_seq=row["left_seq"], last_seq=row["last_seq"]
    )


def messages_of(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Message]:
    return [message_of(row) for row in fetchall(db, sql, params)]


def message_of(row: sqlite3.Row) -> Message:
    return Message.model_validate(
        {
            "conv": row["conv"],
            "seq": row["seq"],
            "from": row["sender"],
            "ts": row["ts"],
            "kind": row["kind"],
            "text": row["text"],
            "media": media_info_of(row, prefix="media_") if row["media_id"] else None,
            "event": json.loads(row["event"]) if row["event"] else None,
        }
    )


def media_info_of(row: sqlite3.Row, prefix: str = "") -> MediaInfo:
    return MediaInfo(
        id=row["media_id" if prefix else "id"],
        mime=row[f"{prefix}mime"],
        size=row[f"{prefix}size"],
        sha256=row[f"{prefix}sha256"],
        width=row[f"{prefix}width"],
        height=row[f"{prefix}height"],
        duration_ms=row[f"{prefix}duration_ms"],
        thumb=row[f"{prefix}thumb"],
    )


def user_of(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        phone=row["phone"],
        name=row["name"],
        about=row["about"],
        disabled=bool(row["disabled"]),
        created_ts=row["created_ts"],
        last_seen=row["last_seen"],
    )


def chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

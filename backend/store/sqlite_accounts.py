"""Accounts and presence records on SQLite.

Each function runs whole on the store's writer or reader thread (see sqlite.py), so an
operation of eight statements costs one thread hop, not eight. Write operations run
inside the writer's transaction, each in a savepoint: a `ChatError` undoes only its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from backend.errors import Conflict, UnknownUser
from backend.store import queries
from backend.store.base import (
    NewUser,
    PresenceState,
    User,
)
from backend.store.sqlite_rows import (
    chunks,
    fetchall,
    fetchone,
    user_of,
)


def add_users(db: sqlite3.Connection, users: Sequence[NewUser], now: int) -> None:
    for user in users:
        try:
            db.execute(queries.INSERT_USER, (user.id, user.phone, user.name, user.token_hash, now))
        except sqlite3.IntegrityError:
            raise Conflict(f"user {user.id!r} or phone {user.phone} already exists") from None


def set_token_hash(db: sqlite3.Connection, user: str, token_hash: bytes) -> None:
    if db.execute(queries.SET_TOKEN_HASH, (token_hash, user)).rowcount == 0:
        raise UnknownUser(f"no user {user!r}", [user])


def get_user(db: sqlite3.Connection, user: str) -> User | None:
    row = fetchone(db, queries.USER_BY_ID, (user,))
    return user_of(row) if row else None


def user_by_token_hash(db: sqlite3.Connection, token_hash: bytes) -> User | None:
    row = fetchone(db, queries.USER_BY_TOKEN_HASH, (token_hash,))
    return user_of(row) if row else None


def update_profile(db: sqlite3.Connection, user: str, name: str | None, about: str | None) -> User:
    db.execute(queries.UPDATE_PROFILE, (name, about, user))
    found = get_user(db, user)
    if found is None:
        raise UnknownUser(f"no user {user!r}", [user])
    return found


def set_presence(db: sqlite3.Connection, user: str, online: bool, ts: int) -> None:
    db.execute(queries.SET_PRESENCE, (int(online), ts, user))


def touch_last_seen(db: sqlite3.Connection, users: Sequence[str], ts: int) -> None:
    for chunk in chunks(users, 500):
        sql = queries.TOUCH_LAST_SEEN.format(params=",".join("?" * len(chunk)))
        db.execute(sql, (ts, *chunk))


def presence_states(db: sqlite3.Connection) -> list[PresenceState]:
    return [
        PresenceState(row["id"], bool(row["online"]), row["last_seen"])
        for row in fetchall(db, queries.PRESENCE_STATES, ())
    ]

"""Uploads on SQLite: adding, reading, who may read them, and removing unused ones.

Each function runs whole on the store's writer or reader thread (see sqlite.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from backend.store import queries
from backend.store.sqlite_rows import fetchone, media_info_of
from backend.wire import MediaInfo


def unused_media(db: sqlite3.Connection, older_than: int, limit: int) -> list[str]:
    """Ids of uploads created before `older_than` that no message carries, oldest first."""
    return [row["id"] for row in db.execute(queries.UNUSED_MEDIA_BEFORE, (older_than, limit))]


def delete_unused_media(db: sqlite3.Connection, media_ids: Sequence[str]) -> list[str]:
    """Delete the uploads among `media_ids` that are still unused.

    Returns the SHA-256 digests that no remaining upload names: the files to delete.
    A message sent meanwhile keeps its upload (the delete re-checks, in the writer's
    transaction, which sends are serialized with).
    """
    digests = set()
    for media_id in media_ids:
        row = db.execute(queries.DELETE_UNUSED_MEDIA, (media_id,)).fetchone()
        if row is not None:
            digests.add(row["sha256"])
    return sorted(
        digest
        for digest in digests
        if db.execute(queries.MEDIA_SHA256_IN_USE, (digest,)).fetchone() is None
    )


def add_media(db: sqlite3.Connection, owner: str, kind: str, info: MediaInfo, now: int) -> None:
    db.execute(
        queries.INSERT_MEDIA,
        (
            info.id,
            owner,
            kind,
            info.mime,
            info.size,
            info.sha256,
            info.width,
            info.height,
            info.duration_ms,
            info.thumb,
            now,
        ),
    )


def get_media(db: sqlite3.Connection, media_id: str) -> tuple[str, str, MediaInfo] | None:
    row = fetchone(db, queries.MEDIA_BY_ID, (media_id,))
    if row is None:
        return None
    return row["owner"], row["kind"], media_info_of(row)


def may_read_media(db: sqlite3.Connection, user: str, media_id: str) -> bool:
    return fetchone(db, queries.MEDIA_READABLE_BY, (media_id, user, user)) is not None

"""The SQLite store's media cleanup operations (see sqlite_ops.py for the conventions).

Adding and reading uploads lives in sqlite_ops.py next to the sends that use them;
this module holds what removes them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from backend.store import queries


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

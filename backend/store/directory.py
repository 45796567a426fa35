"""Read-only lookups that a broker needs at CONNECT and SUBSCRIBE time.

They are synchronous on purpose: each is one indexed read of a few microseconds on
a WAL database (readers never wait for the writer), and the broker's plugins call
them inline, so a user added or a token rotated is seen by the very next CONNECT.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from backend.accounts import token_matches


class Directory:
    """Who may connect and who shares a conversation with whom, read from the store."""

    def __init__(self, db_path: Path) -> None:
        # Read-only, and safe to open before the backend has created the schema.
        self._db = sqlite3.connect(
            f"file:{db_path}?mode=ro", uri=True, check_same_thread=False, timeout=5
        )
        self._db.execute("PRAGMA query_only = ON")

    def close(self) -> None:
        self._db.close()

    def check_token(self, user: str, token: str) -> bool:
        """True when `user` exists, is enabled and `token` is its current token."""
        row = self._db.execute(
            "SELECT token_hash, disabled FROM users WHERE id = ?", (user,)
        ).fetchone()
        if row is None:
            return False
        token_hash, disabled = row
        return not disabled and token_matches(token, token_hash)

    def shares_conversation(self, user: str, other: str) -> bool:
        """True when both are current members of at least one conversation."""
        row = self._db.execute(
            """
            SELECT 1 FROM members AS mine
            JOIN members AS theirs ON theirs.conv = mine.conv
            WHERE mine.user = ? AND theirs.user = ?
              AND mine.left_seq IS NULL AND theirs.left_seq IS NULL
            LIMIT 1
            """,
            (user, other),
        ).fetchone()
        return row is not None

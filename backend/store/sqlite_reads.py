"""What members read on SQLite: sync, history, conversations, receipts of a message.

Each function runs whole on the store's writer or reader thread (see sqlite.py), so an
operation of eight statements costs one thread hop, not eight. Write operations run
inside the writer's transaction, each in a savepoint: a `ChatError` undoes only its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from backend.core.marks import Marks
from backend.core.visibility import sync_window
from backend.errors import UnknownConversation
from backend.store import queries
from backend.store.base import (
    ConversationState,
    MemberReceipt,
    SyncBatch,
)
from backend.store.sqlite_rows import (
    chunks,
    fetchall,
    fetchone,
    membership_row,
    messages_of,
    window_of,
)
from backend.wire import SYNC_BATCH_BYTES, Message

SYNC_CHUNK_ROWS = 16
MESSAGE_OVERHEAD_BYTES = 256


def sync(
    db: sqlite3.Connection,
    user: str,
    since: dict[str, int],
    limit: int,
    max_bytes: int = SYNC_BATCH_BYTES,
) -> SyncBatch:
    """Oldest first per conversation, past the delivered mark and `since`: at most `limit`
    messages, and no more once their texts reach `max_bytes` (then `more`)."""
    memberships = fetchall(db, queries.MEMBERSHIPS_OF_USER, (user,))
    messages: list[Message] = []
    size = 0
    for row in memberships:
        wanted = sync_window(
            window_of(row), confirmed=row["confirmed"], since=since.get(row["conv"], 0)
        )
        first = wanted.first
        while first <= wanted.last:
            room = min(limit - len(messages), SYNC_CHUNK_ROWS)
            if room <= 0 or size >= max_bytes:
                return SyncBatch(messages=messages, more=True, convs=_states(db, memberships))
            # In small chunks, so that a batch of big texts stops near `max_bytes`.
            chunk = messages_of(
                db, queries.MESSAGES_RANGE_ASC, (row["conv"], first, wanted.last, room)
            )
            if not chunk:
                break
            messages.extend(chunk)
            size += sum(_weight(message) for message in chunk)
            first = chunk[-1].seq + 1
    return SyncBatch(messages=messages, more=False, convs=_states(db, memberships))


def _weight(message: Message) -> int:
    """About what a message costs in a batch: its text, and the rest of its fields."""
    return len(message.text or "") + MESSAGE_OVERHEAD_BYTES


def history(
    db: sqlite3.Connection, user: str, conv: str, before: int | None, limit: int
) -> list[Message]:
    window = window_of(membership_row(db, user, conv))
    upper = window.last if before is None else min(window.last, before - 1)
    if upper < window.first:
        return []
    return messages_of(db, queries.MESSAGES_RANGE_DESC, (conv, window.first, upper, limit))


def conversations(db: sqlite3.Connection, user: str) -> list[ConversationState]:
    return _states(db, fetchall(db, queries.MEMBERSHIPS_OF_USER, (user,)))


def conversation_state(db: sqlite3.Connection, user: str, conv: str) -> ConversationState:
    return _states(db, [membership_row(db, user, conv)])[0]


def current_members(db: sqlite3.Connection, conv: str) -> list[str]:
    return [row["user"] for row in fetchall(db, queries.CURRENT_MEMBERS, (conv,))]


def message_receipts(db: sqlite3.Connection, user: str, conv: str, seq: int) -> list[MemberReceipt]:
    """When each member who can see message `seq` (its sender aside) got it and read it."""
    window = window_of(membership_row(db, user, conv))
    # The window first: a seq past it is never looked up (past 2^63 SQLite cannot bind it).
    message = fetchone(db, queries.MESSAGE_SENDER, (conv, seq)) if seq in window else None
    if message is None:
        raise UnknownConversation(f"no message {seq} in {conv} that you can see")
    receipts = []
    for member in fetchall(db, queries.MEMBERS_SEEING, (conv, seq, seq)):
        if member["user"] == message["sender"]:
            continue
        reached = {
            status: fetchone(db, queries.MARK_REACHED, (conv, member["user"], status, seq))
            for status in ("delivered", "read")
        }
        receipts.append(
            MemberReceipt(
                user=member["user"],
                delivered_ts=reached["delivered"]["ts"] if reached["delivered"] else None,
                read_ts=reached["read"]["ts"] if reached["read"] else None,
            )
        )
    return receipts


def _states(db: sqlite3.Connection, memberships: Sequence[sqlite3.Row]) -> list[ConversationState]:
    """Each conversation as the member sees it, in three queries per 500 conversations."""
    convs = [row["conv"] for row in memberships]
    members: dict[str, list[str]] = {conv: [] for conv in convs}
    admins: dict[str, list[str]] = {conv: [] for conv in convs}
    everyone: dict[str, Marks] = {}
    for chunk in chunks(convs, 500):
        params = ",".join("?" * len(chunk))
        for row in fetchall(db, queries.MIN_MARKS_OF_CONVS.format(params=params), chunk):
            everyone[row["conv"]] = Marks(delivered=row["delivered"], read=row["read"])
        for row in fetchall(db, queries.CURRENT_MEMBERS_OF_CONVS.format(params=params), chunk):
            members[row["conv"]].append(row["user"])
            if row["is_admin"]:
                admins[row["conv"]].append(row["user"])
    return [
        ConversationState(
            conv=row["conv"],
            kind=row["kind"],
            name=row["name"],
            members=members[row["conv"]],
            admins=admins[row["conv"]],
            last_seq=window_of(row).last,
            mine=Marks(delivered=row["delivered"], read=row["read"]),
            confirmed=row["confirmed"],
            everyone=everyone.get(row["conv"], Marks()),
        )
        for row in memberships
    ]

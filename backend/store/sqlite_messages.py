"""Sends and receipts on SQLite: the writer's hot path.

Each function runs whole on the store's writer or reader thread (see sqlite.py), so an
operation of eight statements costs one thread hop, not eight. Write operations run
inside the writer's transaction, each in a savepoint: a `ChatError` undoes only its own.
"""

from __future__ import annotations

import sqlite3

from backend.core import marks as mark_rules
from backend.core.marks import Marks
from backend.errors import MediaNotFound, NotMember, UnknownConversation, UnknownUser
from backend.ids import dm_members
from backend.store import queries
from backend.store.base import (
    ReceiptCommand,
    ReceiptResult,
    SendCommand,
    SendResult,
)
from backend.store.sqlite_rows import (
    fetchall,
    fetchone,
    media_info_of,
    membership_row,
    messages_of,
)
from backend.wire import MediaInfo, Message


def send(db: sqlite3.Connection, command: SendCommand) -> SendResult:
    """Store one message, or find the one a retry of the same request already stored."""
    existing = fetchone(db, queries.MESSAGE_BY_CLIENT_ID, (command.sender, command.client_id))
    if existing is not None:
        conv, seq = existing["conv"], existing["seq"]
        message = messages_of(db, queries.MESSAGES_RANGE_ASC, (conv, seq, seq, 1))[0]
        return SendResult(message, _recipients(db, conv, command.sender), duplicate=True)

    _ensure_sender_may_post(db, command)
    media = _media_for(db, command) if command.media_id else None
    seq_row = fetchone(db, queries.NEXT_SEQ, (command.conv,))
    assert seq_row is not None  # _ensure_sender_may_post made sure the conversation exists
    seq = int(seq_row["last_seq"])
    db.execute(
        queries.INSERT_MESSAGE,
        (
            command.conv,
            seq,
            command.sender,
            command.client_id,
            command.ts,
            command.kind,
            command.text,
            command.media_id,
        ),
    )
    advance_own_marks(db, command.conv, command.sender, seq)
    message = Message.model_validate(
        {
            "conv": command.conv,
            "seq": seq,
            "from": command.sender,
            "ts": command.ts,
            "kind": command.kind,
            "text": command.text,
            "media": media,
        }
    )
    return SendResult(message, _recipients(db, command.conv, command.sender), duplicate=False)


def advance_own_marks(db: sqlite3.Connection, conv: str, user: str, seq: int) -> None:
    """The member's marks after its own message `seq`: read by itself, and confirmed
    for sync only where contiguous."""
    row = fetchone(db, queries.MEMBERSHIP, (conv, user))
    if row is None:
        return
    marks = mark_rules.marks_after_own_message(Marks(row["delivered"], row["read"]), seq)
    confirmed = mark_rules.confirmed_after_own_message(row["confirmed"], seq)
    db.execute(queries.SET_MARKS, (marks.delivered, marks.read, confirmed, conv, user))


def _ensure_sender_may_post(db: sqlite3.Connection, command: SendCommand) -> None:
    """Check the sender's membership, creating a 1:1 conversation on first use."""
    if fetchone(db, queries.CONVERSATION, (command.conv,)) is not None:
        member = fetchone(db, queries.MEMBERSHIP, (command.conv, command.sender))
        if member is None or member["left_seq"] is not None:
            raise NotMember(f"you are not a member of {command.conv}")
        return
    pair = dm_members(command.conv)
    if pair is None:
        raise UnknownConversation(f"no conversation {command.conv}")
    if command.sender not in pair:
        raise NotMember(f"you are not a member of {command.conv}")
    other = pair[1] if pair[0] == command.sender else pair[0]
    recipient = fetchone(db, queries.USER_BY_ID, (other,))
    if recipient is None or recipient["disabled"]:
        raise UnknownUser(f"no user {other!r}", [other])
    db.execute(queries.INSERT_CONVERSATION, (command.conv, "dm", None, command.ts))
    for user in pair:
        db.execute(queries.INSERT_MEMBER, (command.conv, user, 1, command.ts, 0, 0, 0))


def _media_for(db: sqlite3.Connection, command: SendCommand) -> MediaInfo:
    row = fetchone(db, queries.MEDIA_BY_ID, (command.media_id,))
    if row is None or row["owner"] != command.sender or row["kind"] != command.kind:
        raise MediaNotFound(f"no {command.kind} upload {command.media_id!r} of yours")
    return media_info_of(row)


def _recipients(db: sqlite3.Connection, conv: str, sender: str) -> list[str]:
    return [row["user"] for row in fetchall(db, queries.OTHER_CURRENT_MEMBERS, (conv, sender))]


def apply_receipt(db: sqlite3.Connection, command: ReceiptCommand) -> ReceiptResult:
    """Move a member's marks; O(members) statements, however many messages it covers."""
    row = membership_row(db, command.user, command.conv)
    if row["left_seq"] is not None:
        raise NotMember(f"you are no longer a member of {command.conv}")
    before = Marks(delivered=row["delivered"], read=row["read"])
    after = mark_rules.apply_receipt(
        before, delivered=command.delivered, read=command.read, last_seq=row["last_seq"]
    )
    confirmed = mark_rules.confirmed_after_receipt(
        row["confirmed"], delivered=command.delivered, read=command.read, last_seq=row["last_seq"]
    )
    # Then over the member's own messages right after it: they need no confirming.
    confirmed = max(
        confirmed, _own_run_end(db, command.conv, command.user, confirmed, row["last_seq"])
    )
    notify: dict[str, list[str]] = {"delivered": [], "read": []}
    if after != before or confirmed != row["confirmed"]:
        db.execute(
            queries.SET_MARKS, (after.delivered, after.read, confirmed, command.conv, command.user)
        )
        for status, old, new in (
            ("delivered", before.delivered, after.delivered),
            ("read", before.read, after.read),
        ):
            if new > old:
                db.execute(queries.LOG_MARK, (command.conv, command.user, status, new, command.ts))
                senders = fetchall(
                    db, queries.SENDERS_IN_RANGE, (command.conv, command.user, old, new)
                )
                notify[status] = [sender["user"] for sender in senders]
    everyone = fetchone(db, queries.MIN_MARKS_OF_CONV, (command.conv,))
    assert everyone is not None
    return ReceiptResult(
        conv=command.conv,
        user=command.user,
        before=before,
        after=after,
        conversation=Marks(delivered=everyone["delivered"], read=everyone["read"]),
        notify_delivered=notify["delivered"],
        notify_read=notify["read"],
    )


def _own_run_end(db: sqlite3.Connection, conv: str, user: str, mark: int, last_seq: int) -> int:
    """The last seq of the run of `user`'s own messages right after `mark` (or `mark`)."""
    row = fetchone(db, queries.FIRST_FOREIGN_AFTER, (conv, mark, user))
    first_foreign = row[0] if row is not None else None
    return last_seq if first_foreign is None else int(first_foreign) - 1

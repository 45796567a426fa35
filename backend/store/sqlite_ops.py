"""The SQLite store's operations: synchronous functions over one `sqlite3.Connection`.

Each runs whole on the store's writer or reader thread (see sqlite.py), so a send of
eight statements costs one thread hop, not eight. Write operations run inside the
writer's transaction and raise `ChatError`s only before they have written anything
that their savepoint would not undo.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from backend.core import marks as mark_rules
from backend.core.marks import Marks
from backend.core.visibility import Window, sync_window, visible_window
from backend.errors import Conflict, MediaNotFound, NotMember, UnknownConversation, UnknownUser
from backend.ids import dm_members
from backend.store import queries
from backend.store.base import (
    ConversationState,
    MemberReceipt,
    NewUser,
    PresenceState,
    ReceiptCommand,
    ReceiptResult,
    SendCommand,
    SendResult,
    SyncBatch,
    User,
)
from backend.wire import MediaInfo, Message

# Accounts


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
    return _user(row) if row else None


def user_by_token_hash(db: sqlite3.Connection, token_hash: bytes) -> User | None:
    row = fetchone(db, queries.USER_BY_TOKEN_HASH, (token_hash,))
    return _user(row) if row else None


def update_profile(db: sqlite3.Connection, user: str, name: str | None, about: str | None) -> User:
    db.execute(queries.UPDATE_PROFILE, (name, about, user))
    found = get_user(db, user)
    if found is None:
        raise UnknownUser(f"no user {user!r}", [user])
    return found


def set_presence(db: sqlite3.Connection, user: str, online: bool, ts: int) -> None:
    db.execute(queries.SET_PRESENCE, (int(online), ts, user))


def touch_last_seen(db: sqlite3.Connection, users: Sequence[str], ts: int) -> None:
    for chunk in _chunks(users, 500):
        sql = queries.TOUCH_LAST_SEEN.format(params=",".join("?" * len(chunk)))
        db.execute(sql, (ts, *chunk))


def presence_states(db: sqlite3.Connection) -> list[PresenceState]:
    return [
        PresenceState(row["id"], bool(row["online"]), row["last_seen"])
        for row in fetchall(db, queries.PRESENCE_STATES, ())
    ]


# Sends and receipts


def send(db: sqlite3.Connection, command: SendCommand) -> SendResult:
    """Store one message, or find the one a retry of the same request already stored."""
    existing = fetchone(db, queries.MESSAGE_BY_CLIENT_ID, (command.sender, command.client_id))
    if existing is not None:
        conv, seq = existing["conv"], existing["seq"]
        message = _messages(db, queries.MESSAGES_RANGE_ASC, (conv, seq, seq, 1))[0]
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
    return _media_info(row)


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


# Reads


def sync(db: sqlite3.Connection, user: str, since: dict[str, int], limit: int) -> SyncBatch:
    """Oldest first per conversation, past the delivered mark and `since`, at most `limit`."""
    memberships = fetchall(db, queries.MEMBERSHIPS_OF_USER, (user,))
    messages: list[Message] = []
    more = False
    for row in memberships:
        wanted = sync_window(
            _window(row), confirmed=row["confirmed"], since=since.get(row["conv"], 0)
        )
        if wanted.empty:
            continue
        room = limit - len(messages)
        if room <= 0:
            more = True
            break
        batch = _messages(
            db, queries.MESSAGES_RANGE_ASC, (row["conv"], wanted.first, wanted.last, room)
        )
        messages.extend(batch)
        if len(batch) < wanted.last - wanted.first + 1:
            more = True
    return SyncBatch(messages=messages, more=more, convs=_states(db, memberships))


def history(
    db: sqlite3.Connection, user: str, conv: str, before: int | None, limit: int
) -> list[Message]:
    window = _window(membership_row(db, user, conv))
    upper = window.last if before is None else min(window.last, before - 1)
    if upper < window.first:
        return []
    return _messages(db, queries.MESSAGES_RANGE_DESC, (conv, window.first, upper, limit))


def conversations(db: sqlite3.Connection, user: str) -> list[ConversationState]:
    return _states(db, fetchall(db, queries.MEMBERSHIPS_OF_USER, (user,)))


def conversation_state(db: sqlite3.Connection, user: str, conv: str) -> ConversationState:
    return _states(db, [membership_row(db, user, conv)])[0]


def current_members(db: sqlite3.Connection, conv: str) -> list[str]:
    return [row["user"] for row in fetchall(db, queries.CURRENT_MEMBERS, (conv,))]


def message_receipts(db: sqlite3.Connection, user: str, conv: str, seq: int) -> list[MemberReceipt]:
    """When each member who can see message `seq` (its sender aside) got it and read it."""
    window = _window(membership_row(db, user, conv))
    message = fetchone(db, queries.MESSAGE_SENDER, (conv, seq))
    if message is None or seq not in window:
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
    for chunk in _chunks(convs, 500):
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
            last_seq=_window(row).last,
            mine=Marks(delivered=row["delivered"], read=row["read"]),
            confirmed=row["confirmed"],
            everyone=everyone.get(row["conv"], Marks()),
        )
        for row in memberships
    ]


# Media


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
    return row["owner"], row["kind"], _media_info(row)


def may_read_media(db: sqlite3.Connection, user: str, media_id: str) -> bool:
    return fetchone(db, queries.MEDIA_READABLE_BY, (media_id, user, user)) is not None


# Row helpers


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


def _window(row: sqlite3.Row) -> Window:
    return visible_window(
        joined_seq=row["joined_seq"], left_seq=row["left_seq"], last_seq=row["last_seq"]
    )


def _messages(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Message]:
    return [_message(row) for row in fetchall(db, sql, params)]


def _message(row: sqlite3.Row) -> Message:
    return Message.model_validate(
        {
            "conv": row["conv"],
            "seq": row["seq"],
            "from": row["sender"],
            "ts": row["ts"],
            "kind": row["kind"],
            "text": row["text"],
            "media": _media_info(row, prefix="media_") if row["media_id"] else None,
            "event": json.loads(row["event"]) if row["event"] else None,
        }
    )


def _media_info(row: sqlite3.Row, prefix: str = "") -> MediaInfo:
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


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        phone=row["phone"],
        name=row["name"],
        about=row["about"],
        disabled=bool(row["disabled"]),
        created_ts=row["created_ts"],
        last_seen=row["last_seen"],
    )


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

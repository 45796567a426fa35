"""Group changes on SQLite: each runs in the writer's transaction, checks the rules of
`backend.core.groups` against the current members, and writes one event message per
change (so every change has a seq, arrives live, and comes back through sync).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from backend.core import groups as rules
from backend.errors import InvalidRequest, UnknownConversation, UnknownUser
from backend.store import queries
from backend.store.base import Delivery, GroupChange
from backend.store.sqlite_messages import advance_own_marks
from backend.store.sqlite_reads import conversation_state
from backend.store.sqlite_rows import fetchall, fetchone
from backend.wire import GroupEvent, Message


def create_group(
    db: sqlite3.Connection,
    creator: str,
    conv: str,
    name: str,
    members: Sequence[str],
    max_members: int,
    now: int,
) -> GroupChange:
    everyone = rules.initial_members(creator, members, max_members)
    _require_users(db, everyone[1:])
    db.execute(queries.INSERT_CONVERSATION, (conv, "group", rules.check_name(name), now))
    event = GroupEvent(type="created", users=everyone, name=name.strip())
    message = _append_event(db, conv, creator, event, now)
    for user in everyone:
        db.execute(queries.JOIN_MEMBER, (conv, user, message.seq, now, int(user == creator)))
    advance_own_marks(db, conv, creator, message.seq)
    return _change(db, creator, conv, [message])


def rename_group(db: sqlite3.Connection, actor: str, conv: str, name: str, now: int) -> GroupChange:
    members = _current_members(db, conv)
    rules.require_admin(members, actor)
    new_name = rules.check_name(name)
    db.execute(queries.RENAME_CONVERSATION, (new_name, conv))
    message = _append_event(db, conv, actor, GroupEvent(type="renamed", name=new_name), now)
    return _change(db, actor, conv, [message])


def add_members(
    db: sqlite3.Connection,
    actor: str,
    conv: str,
    users: Sequence[str],
    max_members: int,
    now: int,
) -> GroupChange:
    members = _current_members(db, conv)
    new = rules.users_to_add(members, actor, users, max_members)
    _require_users(db, new)
    if not new:
        return _change(db, actor, conv, [])
    message = _append_event(db, conv, actor, GroupEvent(type="member_added", users=new), now)
    for user in new:
        db.execute(queries.JOIN_MEMBER, (conv, user, message.seq, now, 0))
    return _change(db, actor, conv, [message])


def remove_member(
    db: sqlite3.Connection, actor: str, conv: str, user: str, now: int
) -> GroupChange:
    members = _current_members(db, conv)
    departure = rules.departure(members, actor, user)
    event = GroupEvent(type=departure.event_type, users=[user])
    message = _append_event(db, conv, actor, event, now)
    db.execute(queries.LEAVE_MEMBER, (message.seq, conv, user))
    # The departing member sees the event that removed it, and nothing after.
    deliveries = [Delivery(message, _recipients(db, conv, actor, also=user))]
    if departure.promoted is not None:
        db.execute(queries.SET_ADMIN, (1, conv, departure.promoted))
        promoted = GroupEvent(type="admin_added", users=[departure.promoted])
        promotion = _append_event(db, conv, actor, promoted, now)
        deliveries.append(Delivery(promotion, _recipients(db, conv, actor)))
    return GroupChange(deliveries=deliveries, state=conversation_state(db, actor, conv))


def set_admin(
    db: sqlite3.Connection, actor: str, conv: str, user: str, make_admin: bool, now: int
) -> GroupChange:
    members = _current_members(db, conv)
    if not rules.admin_change(members, actor, user, make_admin):
        return _change(db, actor, conv, [])
    db.execute(queries.SET_ADMIN, (int(make_admin), conv, user))
    event_type = "admin_added" if make_admin else "admin_removed"
    message = _append_event(db, conv, actor, GroupEvent(type=event_type, users=[user]), now)
    return _change(db, actor, conv, [message])


def _current_members(db: sqlite3.Connection, conv: str) -> dict[str, rules.Member]:
    found = fetchone(db, queries.CONVERSATION, (conv,))
    if found is None:
        raise UnknownConversation(f"no conversation {conv}")
    if found["kind"] != "group":
        raise InvalidRequest(f"{conv} is not a group")
    return {
        row["user"]: rules.Member(row["user"], bool(row["is_admin"]), row["joined_seq"])
        for row in fetchall(db, queries.CURRENT_MEMBERS_DETAIL, (conv,))
    }


def _require_users(db: sqlite3.Connection, users: Sequence[str]) -> None:
    unknown = []
    for user in users:
        row = fetchone(db, queries.USER_BY_ID, (user,))
        if row is None or row["disabled"]:
            unknown.append(user)
    if unknown:
        raise UnknownUser(f"no such users: {', '.join(unknown)}", unknown)


def _append_event(
    db: sqlite3.Connection, conv: str, actor: str, event: GroupEvent, now: int
) -> Message:
    seq_row = fetchone(db, queries.NEXT_SEQ, (conv,))
    assert seq_row is not None
    seq = int(seq_row["last_seq"])
    db.execute(queries.INSERT_EVENT, (conv, seq, actor, now, event.model_dump_json()))
    advance_own_marks(db, conv, actor, seq)
    return Message(conv=conv, seq=seq, sender=actor, ts=now, kind="event", event=event)


def _recipients(
    db: sqlite3.Connection, conv: str, actor: str, also: str | None = None
) -> list[str]:
    current = [row["user"] for row in fetchall(db, queries.OTHER_CURRENT_MEMBERS, (conv, actor))]
    if also is not None and also != actor and also not in current:
        current.append(also)
    return current


def _change(db: sqlite3.Connection, actor: str, conv: str, messages: list[Message]) -> GroupChange:
    deliveries = [Delivery(message, _recipients(db, conv, actor)) for message in messages]
    return GroupChange(deliveries=deliveries, state=conversation_state(db, actor, conv))

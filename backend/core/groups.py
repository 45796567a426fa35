"""Group rules: who may change a group, and what each change does to its membership.

Pure functions over the group's current members. The store applies what they decide
and writes one event message for each change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from backend.errors import Conflict, Forbidden, InvalidRequest, NotMember, TooLarge

DEFAULT_MAX_MEMBERS = 256
MAX_NAME_CHARS = 100


@dataclass(frozen=True, slots=True)
class Member:
    user: str
    is_admin: bool
    joined_seq: int


Members = Mapping[str, Member]


def check_name(name: str) -> str:
    """A group name: trimmed, 1 to 100 characters, no control characters."""
    trimmed = name.strip()
    if not trimmed:
        raise InvalidRequest("a group needs a name")
    if len(trimmed) > MAX_NAME_CHARS:
        raise InvalidRequest(f"a group name is at most {MAX_NAME_CHARS} characters")
    if any(ord(char) < 32 for char in trimmed):
        raise InvalidRequest("a group name cannot contain control characters")
    return trimmed


def initial_members(creator: str, invited: Sequence[str], max_members: int) -> list[str]:
    """The creator first, then each invited user once."""
    members = [creator, *dict.fromkeys(user for user in invited if user != creator)]
    if len(members) > max_members:
        raise TooLarge(
            f"a group has at most {max_members} members, this one would have {len(members)}"
        )
    return members


def require_admin(members: Members, actor: str) -> None:
    member = members.get(actor)
    if member is None:
        raise NotMember("you are not a member of this group")
    if not member.is_admin:
        raise Forbidden("only admins can do that")


def users_to_add(members: Members, actor: str, users: Sequence[str], max_members: int) -> list[str]:
    """The users an admin's add request really adds: adding a member twice is harmless."""
    require_admin(members, actor)
    new = [user for user in dict.fromkeys(users) if user not in members]
    if len(members) + len(new) > max_members:
        raise TooLarge(
            f"a group has at most {max_members} members; it has {len(members)}, adding {len(new)}"
        )
    return new


@dataclass(frozen=True, slots=True)
class Departure:
    """What removing `user` does: the event type, and who becomes admin as a result."""

    user: str
    event_type: str  # "member_left" or "member_removed"
    promoted: str | None


def departure(members: Members, actor: str, user: str) -> Departure:
    """A member leaves (actor == user) or an admin removes another member."""
    if actor != user:
        require_admin(members, actor)
    elif actor not in members:
        raise NotMember("you are not a member of this group")
    if user not in members:
        raise NotMember(f"{user} is not a member of this group")
    remaining = [member for name, member in members.items() if name != user]
    return Departure(
        user=user,
        event_type="member_left" if actor == user else "member_removed",
        promoted=successor(remaining),
    )


def successor(remaining: Sequence[Member]) -> str | None:
    """When no admin remains, the longest-standing member is promoted; None if not needed."""
    if not remaining or any(member.is_admin for member in remaining):
        return None
    return min(remaining, key=lambda member: (member.joined_seq, member.user)).user


def admin_change(members: Members, actor: str, user: str, make_admin: bool) -> bool:
    """Whether promoting/demoting `user` changes anything; refuses what would break the group."""
    require_admin(members, actor)
    target = members.get(user)
    if target is None:
        raise NotMember(f"{user} is not a member of this group")
    if target.is_admin == make_admin:
        return False
    if not make_admin and sum(member.is_admin for member in members.values()) == 1:
        raise Conflict("a group needs an admin: promote someone else first")
    return True

"""Group management: the HTTP routes call this; it returns the group and what to publish."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backend.core.groups import DEFAULT_MAX_MEMBERS
from backend.ids import new_group_conv
from backend.service import Clock, Outgoing, wall_clock_ms
from backend.store.base import ConversationState, GroupChange, Store
from backend.topics import InboxTopic, inbox_topic


@dataclass(frozen=True, slots=True)
class GroupResult:
    state: ConversationState
    outgoing: list[Outgoing]


class GroupService:
    """Create, rename, add, remove, leave, promote, demote: each one event message."""

    def __init__(
        self, store: Store, clock: Clock = wall_clock_ms, max_members: int = DEFAULT_MAX_MEMBERS
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_members = max_members

    async def create(self, creator: str, name: str, members: Sequence[str]) -> GroupResult:
        change = await self.store.create_group(
            creator, new_group_conv(), name, members, self.max_members, self.clock()
        )
        return fan_out(change)

    async def rename(self, actor: str, conv: str, name: str) -> GroupResult:
        return fan_out(await self.store.rename_group(actor, conv, name, self.clock()))

    async def add(self, actor: str, conv: str, users: Sequence[str]) -> GroupResult:
        change = await self.store.add_members(actor, conv, users, self.max_members, self.clock())
        return fan_out(change)

    async def remove(self, actor: str, conv: str, user: str) -> GroupResult:
        return fan_out(await self.store.remove_member(actor, conv, user, self.clock()))

    async def set_admin(self, actor: str, conv: str, user: str, make_admin: bool) -> GroupResult:
        change = await self.store.set_admin(actor, conv, user, make_admin, self.clock())
        return fan_out(change)


def fan_out(change: GroupChange) -> GroupResult:
    """Each event message to its recipients' `in/msg`."""
    outgoing: list[Outgoing] = []
    for delivery in change.deliveries:
        payload = delivery.message.to_bytes()
        outgoing.extend(
            Outgoing(inbox_topic(user, InboxTopic.MSG), payload) for user in delivery.recipients
        )
    return GroupResult(state=change.state, outgoing=outgoing)

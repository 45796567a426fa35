"""The storage interface. SQLite implements it first; every implementation must pass
tests/store/test_contract.py.

The store is the source of truth: a send is acknowledged only after `send` returns,
and `send` returns only after the message is durably committed.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

from backend.core.marks import Marks
from backend.wire import MediaInfo, Message


@dataclass(frozen=True, slots=True)
class User:
    id: str
    phone: str
    name: str
    about: str
    disabled: bool
    created_ts: int
    last_seen: int | None


@dataclass(frozen=True, slots=True)
class PresenceState:
    user: str
    online: bool
    last_seen: int | None


@dataclass(frozen=True, slots=True)
class NewUser:
    id: str
    phone: str
    name: str
    token_hash: bytes


@dataclass(frozen=True, slots=True)
class SendCommand:
    """A validated send request, as the store needs it."""

    sender: str
    client_id: str
    conv: str  # for a request with `to`, the dm id; the store creates the dm on first use
    kind: str
    text: str | None
    media_id: str | None
    ts: int


@dataclass(frozen=True, slots=True)
class SendResult:
    message: Message
    recipients: Sequence[str]  # current members but the sender
    duplicate: bool  # a retry of a request already stored: nothing new was written


@dataclass(frozen=True, slots=True)
class ReceiptCommand:
    user: str
    conv: str
    delivered: int | None
    read: int | None
    ts: int


@dataclass(frozen=True, slots=True)
class ReceiptResult:
    conv: str
    user: str
    before: Marks
    after: Marks
    conversation: Marks  # all_delivered / all_read after the receipt
    # Other members who sent a message that this receipt newly covered, per status.
    notify_delivered: Sequence[str] = ()
    notify_read: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class ConversationState:
    """One conversation as one member sees it."""

    conv: str
    kind: str
    name: str | None
    members: Sequence[str]
    admins: Sequence[str]
    last_seq: int  # the last seq this member may see
    mine: Marks
    everyone: Marks  # the minimum over current members
    confirmed: int = 0  # where this member's next sync starts


@dataclass(frozen=True, slots=True)
class SyncBatch:
    messages: Sequence[Message]
    more: bool
    convs: Sequence[ConversationState] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A stored message and who gets it live."""

    message: Message
    recipients: Sequence[str]


@dataclass(frozen=True, slots=True)
class GroupChange:
    """The event messages a group change wrote, and the group as the actor now sees it."""

    deliveries: Sequence[Delivery]
    state: ConversationState


@dataclass(frozen=True, slots=True)
class MemberReceipt:
    user: str
    delivered_ts: int | None
    read_ts: int | None


class Store(abc.ABC):
    """Everything mqchat persists. Methods raise `backend.errors.ChatError` subclasses."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # Accounts
    @abc.abstractmethod
    async def add_users(self, users: Sequence[NewUser], now: int) -> None:
        """Create all or none: any duplicate id or phone raises `Conflict`."""

    @abc.abstractmethod
    async def set_token_hash(self, user: str, token_hash: bytes) -> None:
        """Replace the user's token; raises `UnknownUser`."""

    @abc.abstractmethod
    async def user_by_token_hash(self, token_hash: bytes) -> User | None: ...

    @abc.abstractmethod
    async def get_user(self, user: str) -> User | None: ...

    @abc.abstractmethod
    async def update_profile(self, user: str, name: str | None, about: str | None) -> User: ...

    # Presence
    @abc.abstractmethod
    async def set_presence(self, user: str, online: bool, ts: int) -> None:
        """Record a flip; `ts` becomes `last_seen` (it never moves backwards)."""

    @abc.abstractmethod
    async def touch_last_seen(self, users: Sequence[str], ts: int) -> None:
        """Move `last_seen` of those online to `ts`, so a crash loses at most one interval."""

    @abc.abstractmethod
    async def presence_states(self) -> list[PresenceState]:
        """Every enabled user's recorded presence."""

    # Messages
    @abc.abstractmethod
    async def send(self, command: SendCommand) -> SendResult:
        """Store a message durably and assign its seq; a retry returns the stored one."""

    @abc.abstractmethod
    async def apply_receipt(self, command: ReceiptCommand) -> ReceiptResult: ...

    @abc.abstractmethod
    async def sync(self, user: str, since: dict[str, int], limit: int) -> SyncBatch:
        """What the user has not confirmed; reflects every write submitted before the call."""

    @abc.abstractmethod
    async def history(self, user: str, conv: str, before: int | None, limit: int) -> list[Message]:
        """Newest first; raises `NotMember` / `UnknownConversation`."""

    @abc.abstractmethod
    async def conversations(self, user: str) -> list[ConversationState]: ...

    @abc.abstractmethod
    async def current_members(self, conv: str) -> list[str]:
        """The conversation's current members; empty for an unknown conversation."""

    @abc.abstractmethod
    async def message_receipts(self, user: str, conv: str, seq: int) -> list[MemberReceipt]: ...

    # Groups: each change is checked by backend.core.groups and written as event messages.
    @abc.abstractmethod
    async def create_group(
        self, creator: str, conv: str, name: str, members: Sequence[str], max_members: int, now: int
    ) -> GroupChange: ...

    @abc.abstractmethod
    async def rename_group(self, actor: str, conv: str, name: str, now: int) -> GroupChange: ...

    @abc.abstractmethod
    async def add_members(
        self, actor: str, conv: str, users: Sequence[str], max_members: int, now: int
    ) -> GroupChange: ...

    @abc.abstractmethod
    async def remove_member(self, actor: str, conv: str, user: str, now: int) -> GroupChange:
        """An admin removes `user`, or a member leaves (`actor == user`)."""

    @abc.abstractmethod
    async def set_admin(
        self, actor: str, conv: str, user: str, make_admin: bool, now: int
    ) -> GroupChange: ...

    # Media
    @abc.abstractmethod
    async def add_media(self, owner: str, kind: str, info: MediaInfo, now: int) -> None: ...

    @abc.abstractmethod
    async def get_media(self, media_id: str) -> tuple[str, str, MediaInfo] | None:
        """`(owner, kind, info)` of an upload."""

    @abc.abstractmethod
    async def may_read_media(self, user: str, media_id: str) -> bool: ...

    @abc.abstractmethod
    async def unused_media(self, older_than: int, limit: int) -> list[str]:
        """Ids of uploads created before `older_than` that no message carries, oldest first."""

    @abc.abstractmethod
    async def delete_unused_media(self, media_ids: Sequence[str]) -> list[str]:
        """Delete those of `media_ids` still unused; return the SHA-256 digests that no
        remaining upload names (their files may go). Never deletes an upload a message
        carries, even one sent after `unused_media` listed it."""

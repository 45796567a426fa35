"""The chat service: what the server does with each client request.

It is transport-free: methods take decoded requests and return the publications to
make (`Outgoing`), and raise `ChatError`s that the edge translates. The MQTT loop and
the HTTP layer are thin over it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from backend import wire
from backend.errors import InvalidRequest, NotMember
from backend.ids import dm_conv
from backend.limits import Limited, UserLimits
from backend.store.base import (
    ConversationState,
    ReceiptCommand,
    ReceiptResult,
    SendCommand,
    Store,
)
from backend.topics import InboxTopic, inbox_topic

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One publication the server makes."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    # Publications with the same key may be coalesced: only the highest `rank` of a burst
    # is sent (receipt events, where a later mark stands for the earlier ones).
    coalesce_key: tuple[str, ...] | None = None
    rank: int = 0


def to_inbox(user: str, kind: InboxTopic, payload: wire.Outbound, qos: int = 1) -> Outgoing:
    return Outgoing(inbox_topic(user, kind), payload.to_bytes(), qos)


class ChatService:
    """Sends, receipts, typing and sync, over a `Store`.

    Each request first takes a token from the user's bucket in `limits` (no limits when
    none are given): over the limit it raises `RateLimited` before touching the store.
    """

    def __init__(
        self, store: Store, clock: Clock = wall_clock_ms, limits: UserLimits | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.limits = limits if limits is not None else UserLimits({})

    async def send(self, user: str, request: wire.SendRequest) -> list[Outgoing]:
        """Store the message; then the ack to the sender and the message to the others."""
        self.limits.check(Limited.SEND, user)
        if request.to is not None:
            if request.to == user:
                raise InvalidRequest("you cannot send a message to yourself")
            conv = dm_conv(user, request.to)
        else:
            assert request.conv is not None  # the model requires exactly one of them
            conv = request.conv
        command = SendCommand(
            sender=user,
            client_id=request.id,
            conv=conv,
            kind=request.kind,
            text=request.text,
            media_id=request.media,
            ts=self.clock(),
        )
        result = await self.store.send(command)
        message = result.message
        ack = wire.Ack(id=request.id, conv=message.conv, seq=message.seq, ts=message.ts)
        payload = message.to_bytes()
        return [
            to_inbox(user, InboxTopic.ACK, ack),
            *(
                Outgoing(inbox_topic(recipient, InboxTopic.MSG), payload)
                for recipient in result.recipients
            ),
        ]

    async def receipt(self, user: str, request: wire.ReceiptRequest) -> list[Outgoing]:
        """Move the user's marks; tell the senders of newly covered messages."""
        self.limits.check(Limited.RECEIPT, user)
        result = await self.store.apply_receipt(
            ReceiptCommand(
                user=user,
                conv=request.conv,
                delivered=request.delivered,
                read=request.read,
                ts=self.clock(),
            )
        )
        return receipt_events(result, ts=self.clock())

    async def typing(self, user: str, request: wire.TypingRequest) -> list[Outgoing]:
        """Relay to the other current members at QoS 0; never stored; excess dropped."""
        # `paused` has a bucket of its own: a quick start-and-stop must not leave the
        # others seeing "typing" for 6 s because the stop was dropped.
        # Clients repeat `typing` every few seconds; more than the limit is noise to drop.
        bucket = (user, request.conv, request.state == "paused")
        if not self.limits.allow(Limited.TYPING, bucket):
            return []
        members = await self.store.current_members(request.conv)
        if user not in members:
            raise NotMember(f"you are not a member of {request.conv}")
        event = wire.TypingEvent(
            conv=request.conv, sender=user, state=request.state, ts=self.clock()
        )
        return [
            to_inbox(member, InboxTopic.TYPING, event, qos=0)
            for member in members
            if member != user
        ]

    async def sync(self, user: str, request: wire.SyncRequest) -> list[Outgoing]:
        """The messages the user has not confirmed, then the batch end with every mark."""
        self.limits.check(Limited.SYNC, user)
        limit = min(request.limit, wire.SYNC_LIMIT_CAP)
        batch = await self.store.sync(user, dict(request.since), limit)
        end = wire.SyncEnd(
            id=request.id,
            more=batch.more,
            convs={state.conv: conv_marks(state) for state in batch.convs},
        )
        return [
            *(Outgoing(inbox_topic(user, InboxTopic.MSG), m.to_bytes()) for m in batch.messages),
            to_inbox(user, InboxTopic.SYNC, end),
        ]


def conv_marks(state: ConversationState) -> wire.ConvMarks:
    return wire.ConvMarks(
        last_seq=state.last_seq,
        all_delivered=state.everyone.delivered,
        all_read=state.everyone.read,
        delivered=state.mine.delivered,
        read=state.mine.read,
        confirmed=state.confirmed,
    )


def receipt_events(result: ReceiptResult, ts: int) -> list[Outgoing]:
    """One `in/receipt` per sender and status that the receipt newly covered.

    A `read` that covers as much as the `delivered` does stands for both (read implies
    delivered), so a plain "read up to 42" is one event, not two.
    """
    read_covers_delivered = result.after.read >= result.after.delivered
    outgoing: list[Outgoing] = []
    for status, mark, senders in (
        ("delivered", result.after.delivered, result.notify_delivered),
        ("read", result.after.read, result.notify_read),
    ):
        if status == "delivered" and read_covers_delivered:
            senders = [sender for sender in senders if sender not in result.notify_read]
        event = wire.ReceiptEvent(
            conv=result.conv,
            by=result.user,
            status=status,
            seq=mark,
            ts=ts,
            all_delivered=result.conversation.delivered,
            all_read=result.conversation.read,
        )
        payload = event.to_bytes()
        outgoing.extend(
            Outgoing(
                inbox_topic(sender, InboxTopic.RECEIPT),
                payload,
                coalesce_key=(sender, result.conv, result.user, status),
                rank=mark,
            )
            for sender in senders
        )
    return outgoing

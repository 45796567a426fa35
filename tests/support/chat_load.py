"""Twenty SDK users sending through faults, and the proof that nothing acked was lost.

`load_through_faults(server, kill_points, fault)` connects `USERS` `ChatClient`s, each
sending `PER_USER` messages (alternately to its neighbour and to a group of all),
`LANES` at a time. Each time the acks reach the next of `kill_points` it runs `fault` (a
kill and whatever restart it implies) while the load goes on; the SDK retries with the
same ids until every send is acked. Then it waits until every recipient was shown
every message (live or by sync), reads the history over HTTP and checks: each message
stored exactly once, seqs 1..n without a gap, each ack naming the stored message (an
ack got before a fault included), and a lane's messages (each sent after the previous
one's ack) in seq order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from backend import wire
from clients.http import ChatHttp
from clients.sdk import ChatClient
from tests.support.server import HOST, ServerProcess

USERS = 20
PER_USER = 30
LANES = 3  # sends in flight per user
RETRY_S = 1.0  # the SDK's retry interval (default 5 s): keeps the test short
RECOVERY_TIMEOUT_S = 45.0


@dataclass(frozen=True, slots=True)
class Recovery:
    """What the faults cost, in seconds.

    `resumed_s`: per fault, from the fault until acks flowed again (the first ack that no
    request in flight at the fault can account for). `all_acked_s` / `converged_s`: from
    the last fault until every send was acked / every message shown to its recipients.
    """

    acked_at_faults: list[int]
    resumed_s: list[float]
    all_acked_s: float
    converged_s: float


@dataclass
class _Ledger:
    """Acks and what each user was shown, shared by the senders and readers."""

    acked: dict[tuple[str, str], wire.Ack] = field(default_factory=dict)
    ack_times: list[float] = field(default_factory=list)  # monotonic, in arrival order
    shown: dict[str, set[tuple[str, int]]] = field(default_factory=lambda: defaultdict(set))
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def missing(self, members: dict[str, list[str]]) -> list[tuple[str, str, int]]:
        """(recipient, conv, seq) of every acked message not yet shown to a recipient."""
        return [
            (member, ack.conv, ack.seq)
            for (sender, _), ack in self.acked.items()
            for member in members[ack.conv]
            if member != sender and (ack.conv, ack.seq) not in self.shown[member]
        ]

    async def until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def _users() -> list[str]:
    return [f"u{index:02d}" for index in range(USERS)]


def _text(sender: str, msg_id: str) -> str:
    return f"{sender}/{msg_id}"


async def load_through_faults(
    server: ServerProcess, kill_points: Sequence[int], fault: Callable[[], Awaitable[None]]
) -> Recovery:
    """Run the load, inject `fault` at each of `kill_points` acks, check, time recovery."""
    users = _users()
    tokens = server.add_users(users)
    async with ChatHttp(server.http_url, tokens[users[0]]) as http:
        group = (await http.create_group("everyone", users[1:])).conv
    members = {group: users}
    for index, user in enumerate(users):
        members[_dm(user, users[(index + 1) % USERS])] = [user, users[(index + 1) % USERS]]
    ledger = _Ledger()
    faults: list[tuple[float, int]] = []
    acked_before: dict[tuple[str, str], wire.Ack] = {}
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            user: await stack.enter_async_context(
                ChatClient(HOST, server.mqtt_port, user, tokens[user], retry_interval=RETRY_S)
            )
            for user in users
        }
        async with asyncio.timeout(30):
            await asyncio.gather(*(chat.synced() for chat in clients.values()))
        async with asyncio.TaskGroup() as tasks:
            readers = [tasks.create_task(_read(chat, ledger)) for chat in clients.values()]
            senders = [
                tasks.create_task(_send(chat, index, group, ledger))
                for index, chat in enumerate(clients.values())
            ]
            for point in kill_points:
                await ledger.until(
                    lambda point=point: len(ledger.acked) >= point,
                    RECOVERY_TIMEOUT_S,
                    f"{point} acks",
                )
                acked_before = dict(ledger.acked)
                faults.append((time.monotonic(), len(ledger.acked)))
                await fault()
            async with asyncio.timeout(RECOVERY_TIMEOUT_S):
                await asyncio.gather(*senders)
            all_acked_s = time.monotonic() - faults[-1][0]
            await ledger.until(
                lambda: not ledger.missing(members),
                RECOVERY_TIMEOUT_S,
                "every recipient to be shown every message",
            )
            converged_s = time.monotonic() - faults[-1][0]
            for reader in readers:
                reader.cancel()
    assert len(ledger.acked) == USERS * PER_USER
    # An ack got before a fault is the ack for good: the same message after recovery.
    assert all(ledger.acked[key] == ack for key, ack in acked_before.items())
    await _check_history(server, tokens, members, ledger)
    in_flight = USERS * LANES
    return Recovery(
        acked_at_faults=[count for _, count in faults],
        resumed_s=[ledger.ack_times[count + in_flight] - at for at, count in faults],
        all_acked_s=all_acked_s,
        converged_s=converged_s,
    )


def _dm(a: str, b: str) -> str:
    low, high = sorted((a, b))
    return f"dm:{low}:{high}"


async def _send(chat: ChatClient, index: int, group: str, ledger: _Ledger) -> None:
    neighbour = _users()[(index + 1) % USERS]

    async def lane(number: int) -> None:
        for k in range(number, PER_USER, LANES):
            msg_id = f"m{k}"
            target = {"to": neighbour} if k % 2 == 0 else {"conv": group}
            ack = await chat.send(_text(chat.user, msg_id), id=msg_id, **target)
            ledger.acked[(chat.user, msg_id)] = ack
            ledger.ack_times.append(time.monotonic())
            ledger.changed.set()

    async with asyncio.TaskGroup() as lanes:
        for number in range(LANES):
            lanes.create_task(lane(number))


async def _read(chat: ChatClient, ledger: _Ledger) -> None:
    async for event in chat.events():
        if isinstance(event, wire.Message) and event.kind == "text":
            ledger.shown[chat.user].add((event.conv, event.seq))
            ledger.changed.set()
        elif isinstance(event, wire.AckError):
            raise AssertionError(f"{chat.user}: error ack {event}")


async def _check_history(
    server: ServerProcess,
    tokens: dict[str, str],
    members: dict[str, list[str]],
    ledger: _Ledger,
) -> None:
    stored: dict[str, dict[int, wire.Message]] = {}
    for conv, conv_members in members.items():
        async with ChatHttp(server.http_url, tokens[conv_members[0]]) as http:
            stored[conv] = {m.seq: m for m in await _whole_history(http, conv)}
    texts: list[str] = []
    for conv, by_seq in stored.items():
        assert sorted(by_seq) == list(range(1, len(by_seq) + 1)), f"gaps in {conv}"
        texts += [m.text or "" for m in by_seq.values() if m.kind == "text"]
    # Exactly once: every sent text stored once, nothing else stored.
    assert sorted(texts) == sorted(_text(sender, msg_id) for sender, msg_id in ledger.acked)
    lanes: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for (sender, msg_id), ack in sorted(ledger.acked.items(), key=lambda i: int(i[0][1][1:])):
        message = stored[ack.conv][ack.seq]
        assert (message.sender, message.text, message.ts) == (
            sender,
            _text(sender, msg_id),
            ack.ts,
        )
        lanes[(sender, ack.conv, int(msg_id[1:]) % LANES)].append(ack.seq)
    for lane, seqs in lanes.items():
        assert seqs == sorted(seqs), f"lane {lane} out of order: {seqs}"


async def _whole_history(http: ChatHttp, conv: str) -> list[wire.Message]:
    messages: list[wire.Message] = []
    before: int | None = None
    while page := await http.history(conv, before=before, limit=500):
        messages += page
        before = page[-1].seq
    return messages

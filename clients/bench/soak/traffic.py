"""The soak's users: bare MQTT connections that send, receive, acknowledge and come and go.

Each user behaves as a careful client would: it syncs after every connect, sends
`delivered` (sometimes `read`) receipts up to what it has without a hole, and resends
nothing (the soak never drops a connection with a send unanswered). One asyncio loop
drives all of them on `clients.bench.rawmqtt.RawClient` (cheap on the CPU, so that the
generator leaves the two cores to the server).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from backend.ids import dm_conv
from backend.topics import ClientTopic, client_topic, inbox_filter, presence_topic
from clients.bench.mqtt import MqttFailure
from clients.bench.rawmqtt import RawClient
from clients.bench.soak.tracking import Deliveries, Window

CONNECT_TIMEOUT_S = 30.0
# Sends are remembered this long for their push latency; a later push counts as late.
SEND_MEMORY_S = 120.0
MAX_SYNC_ROUNDS = 50  # per connect; a round carries up to 1,000 messages


@dataclass
class SoakUser:
    """One user: its connection (while online) and what the generator knows of it."""

    user: str
    token: str
    contacts: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    watch: list[str] = field(default_factory=list)  # whose presence it follows
    client: RawClient | None = None
    online: bool = False
    syncing: bool = False
    sync_rounds: int = 0
    unanswered: int = 0  # sends without an ack yet
    dirty: set[str] = field(default_factory=set)  # convs with news since the last receipt


@dataclass
class Traffic:
    """Every user's connection and the handling of what arrives; the counts go to `window`."""

    port: int
    users: dict[str, SoakUser]
    deliveries: Deliveries
    read_share: float = 0.3
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    window: Window = field(default_factory=Window)
    problems: list[str] = field(default_factory=list)
    _sent_at: dict[str, float] = field(default_factory=dict)
    _unanswered: dict[str, str] = field(default_factory=dict)  # request id -> sender
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    async def connect(self, soak_user: SoakUser) -> None:
        """Connect, subscribe, say online, then sync (what arrives meanwhile counts as sync)."""
        client = RawClient(
            soak_user.user, soak_user.user, soak_user.token, self._handler(soak_user)
        )
        soak_user.client = client
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await client.connect(self.port)
                await client.subscribe(inbox_filter(soak_user.user))
                for other in soak_user.watch:
                    await client.subscribe(presence_topic(other))
        except (MqttFailure, TimeoutError, OSError) as error:
            client.close()
            soak_user.client = None
            self.problems.append(f"{soak_user.user}: connecting failed: {error!r}")
            return
        soak_user.online = True
        self._publish(soak_user, ClientTopic.PRESENCE, {"state": "online"})
        soak_user.sync_rounds = 0
        self._sync(soak_user)

    def resync(self, soak_user: SoakUser) -> None:
        """Sync again, as a client does that finds a hole in what it has."""
        if soak_user.online and not soak_user.syncing:
            soak_user.sync_rounds = 0
            self._sync(soak_user)

    def disconnect(self, soak_user: SoakUser) -> None:
        """Say offline and DISCONNECT (only ever with nothing unanswered)."""
        if soak_user.client is None:
            return
        self._publish(soak_user, ClientTopic.PRESENCE, {"state": "offline"})
        soak_user.client.close()
        soak_user.client = None
        soak_user.online = soak_user.syncing = False

    def send(self, sender: SoakUser, *, to: str | None = None, conv: str | None = None) -> None:
        """Publish a text message, to a contact or to a group."""
        request_id = f"m{next(self._ids)}"
        target: dict[str, str] = {"to": to} if to is not None else {"conv": conv or ""}
        if to is not None:
            self.deliveries.conversation(dm_conv(sender.user, to), (sender.user, to))
        now = time.monotonic()
        self._sent_at[request_id] = now
        self._unanswered[request_id] = sender.user
        sender.unanswered += 1
        self.window.sent += 1
        self._publish(
            sender, ClientTopic.SEND, {"id": request_id, **target, "text": f"{request_id} soak"}
        )

    def send_receipts(self, soak_user: SoakUser) -> None:
        """A receipt per conversation with news: up to the hole-free prefix, sometimes `read`."""
        if not soak_user.online or soak_user.syncing:
            return
        for conv in soak_user.dirty:
            mark = self.deliveries.prefix(soak_user.user, conv)
            if mark > 0:
                status = "read" if self.rng.random() < self.read_share else "delivered"
                self._publish(soak_user, ClientTopic.RECEIPT, {"conv": conv, status: mark})
                self.window.receipts_sent += 1
        soak_user.dirty.clear()

    def forget_old_sends(self, now: float) -> None:
        """Latency bookkeeping stays bounded: sends older than SEND_MEMORY_S are dropped."""
        cutoff = now - SEND_MEMORY_S
        # Insertion order is send order: the old ones are at the front.
        old = list(itertools.takewhile(lambda r: self._sent_at[r] < cutoff, self._sent_at))
        for request_id in old:
            del self._sent_at[request_id]

    @property
    def unanswered(self) -> int:
        return len(self._unanswered)

    def _sync(self, soak_user: SoakUser) -> None:
        soak_user.syncing = True
        soak_user.sync_rounds += 1
        self._publish(soak_user, ClientTopic.SYNC, {"id": f"s{next(self._ids)}"})

    def _publish(self, soak_user: SoakUser, kind: ClientTopic, body: dict[str, object]) -> None:
        if soak_user.client is not None:
            payload = json.dumps(body).encode()
            soak_user.client.publish(client_topic(soak_user.user, kind), payload)

    def _handler(self, soak_user: SoakUser) -> Callable[[str, bytes], None]:
        user = soak_user.user

        def handle(topic: str, payload: bytes) -> None:
            body = json.loads(payload)
            kind = topic.rpartition("/")[2]
            if topic.startswith("presence/"):
                self.window.presence += 1
            elif kind == "msg":
                self._message(soak_user, body)
            elif kind == "ack":
                self._ack(soak_user, body)
            elif kind == "sync":
                self._sync_end(soak_user, body)
            elif kind == "receipt":
                self.window.receipt_events += 1
            elif kind == "error":
                self.window.errors += 1
                self.problems.append(f"{user}: in/error {body}")

        return handle

    def _message(self, soak_user: SoakUser, body: dict[str, object]) -> None:
        conv, seq = str(body["conv"]), int(str(body["seq"]))
        if not self.deliveries.seen(soak_user.user, conv, seq):
            self.window.redelivered += 1
            return
        soak_user.dirty.add(conv)
        if soak_user.syncing:
            self.window.synced += 1
            return
        self.window.live += 1
        sent_at = self._sent_at.get(str(body.get("text") or "").partition(" ")[0])
        if sent_at is not None:
            self.window.latencies_ms.append((time.monotonic() - sent_at) * 1000)

    def _ack(self, soak_user: SoakUser, body: dict[str, object]) -> None:
        request_id = str(body.get("id"))
        if self._unanswered.pop(request_id, None) is None:
            return  # a redelivered ack
        soak_user.unanswered -= 1
        error = body.get("error")
        if error is not None:
            self.window.refused += 1
            self.problems.append(f"{soak_user.user}: send {request_id} refused: {error}")
            return
        self.window.acked += 1
        sent_at = self._sent_at.get(request_id)
        if sent_at is not None:
            self.window.ack_latencies_ms.append((time.monotonic() - sent_at) * 1000)
        self.deliveries.acked(soak_user.user, str(body["conv"]), int(str(body["seq"])))

    def _sync_end(self, soak_user: SoakUser, body: dict[str, object]) -> None:
        if body.get("more") and soak_user.sync_rounds < MAX_SYNC_ROUNDS:
            # Acknowledge the batch, or the next round would bring the same messages.
            soak_user.syncing = False
            self.send_receipts(soak_user)
            self._sync(soak_user)
            return
        soak_user.syncing = False

"""The 1:1 load phases: N users each subscribed to its inbox, sending to random others.

- fixed rate: an open-loop schedule of `rate` sends per second in total, whoever's turn
  it is; sends never wait for acks, so a slow server shows up as latency, not as a
  politely slower generator (no coordinated omission).
- full speed: every user keeps `window` sends unacked; each ack releases the next send.

Push latency is the time from the sender's PUBLISH to the recipient's `in/msg`, both
seen by this process on one monotonic clock. Every phase is bounded in count and in
time: sends stop at the end of `duration_s` or at `max_messages`, and waiting for what
is still in flight stops after `drain_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from backend.topics import ClientTopic, client_topic, inbox_filter
from clients.bench.ledger import Ledger, Verdict
from clients.bench.mqtt import BenchClient, LoopClient, MessageHandler, MqttFailure
from clients.bench.procfs import machine_sample, own_cpu_seconds
from clients.bench.rawmqtt import RawClient
from clients.bench.server import BenchServer
from clients.bench.stats import LatencySummary, count_within, cpu_percent, rate

# Words after the request id, for a message of a typical chat length (~60 bytes of text).
FILLER = "the quick brown fox jumps over the lazy dog, again"
# After everything is accounted for, a moment more to catch late redeliveries.
SETTLE_GRACE_S = 0.2
PROGRESS_INTERVAL_S = 0.25

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """A phase: `rate` sends/s in total, or full speed (`rate` None) with `window` each."""

    phase: str
    users: int
    duration_s: float
    rate: float | None = None
    window: int = 10
    max_messages: int = 1_000_000
    drain_s: float = 15.0
    connect_timeout_s: float = 30.0
    seed: int = 1
    client: str = "paho"
    """"paho" (`mqtt.LoopClient`) or "raw" (`rawmqtt.RawClient`, lighter on the CPU)."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one phase measured; `ok` is False on any loss, gap, timeout or error."""

    phase: str
    mode: str
    run: int
    users: int
    duration_s: float
    offered_rate: float | None
    window: int | None
    accepted_per_s: float
    delivered_per_s: float
    push: LatencySummary
    ack: LatencySummary
    verdict: Verdict
    cpu_percent: dict[str, float]
    max_lag_ms: float
    client: str = "paho"
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.verdict.ok and not self.errors


@dataclass
class LoadPhase:
    """Runs one `LoadSpec` against `server` with freshly created users."""

    spec: LoadSpec
    server: BenchServer
    tokens: dict[str, str]
    run_index: int = 1
    progress: Progress | None = None
    ledger: Ledger = field(default_factory=Ledger)
    _clients: list[BenchClient] = field(default_factory=list)
    _send_deadline: float = float("inf")
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _settled: asyncio.Event | None = None
    """Set once nothing is left in flight; exists only while draining."""

    def __post_init__(self) -> None:
        self._users = list(self.tokens)
        self._send_topics = [client_topic(user, ClientTopic.SEND) for user in self._users]
        self._rng = random.Random(self.spec.seed)

    async def run(self) -> LoadResult:
        """Connect, load, drain, disconnect; never raises for the server's failings."""
        errors: list[str] = []
        try:
            await self._connect_all()
        except (MqttFailure, TimeoutError, OSError) as error:
            self._close_all()
            return self._result(0.0, {}, 0.0, [f"connecting: {error!r}"])
        # Objects made so far need no more collecting: a full collection over them
        # mid-phase would pause the generator and show up as latency that is not the server's.
        gc.collect()
        gc.freeze()
        cpu_before = self._cpu()
        started = time.monotonic()
        self._send_deadline = started + self.spec.duration_s
        ticker = asyncio.create_task(self._report_progress(started))
        try:
            max_lag = await self._load(started)
            cpu = cpu_percent(cpu_before, self._cpu(), time.monotonic() - started)
            await self._drain()
        finally:
            ticker.cancel()
            self._close_all()
            gc.unfreeze()
        errors += [client.lost for client in self._clients if client.lost]
        planned = self._planned_sends()
        if planned is not None and self.ledger.sent_count < planned:
            # The generator itself fell behind its schedule: the rate was not offered.
            errors.append(f"sent {self.ledger.sent_count} of {planned} scheduled")
        return self._result(started, cpu, max_lag, errors)

    def _planned_sends(self) -> int | None:
        """How many sends the fixed-rate schedule holds; None at full speed."""
        if self.spec.rate is None:
            return None
        return min(self.spec.max_messages, int(self.spec.rate * self.spec.duration_s))

    async def _connect_all(self) -> None:
        for index, (user, token) in enumerate(self.tokens.items()):
            self._clients.append(self._new_client(user, token, self._handler(index)))
        async with asyncio.timeout(self.spec.connect_timeout_s):
            await asyncio.gather(
                *(client.connect(self.server.mqtt_port) for client in self._clients)
            )
            await asyncio.gather(
                *(
                    client.subscribe(inbox_filter(user))
                    for client, user in zip(self._clients, self._users, strict=True)
                )
            )

    def _new_client(self, user: str, token: str, handler: MessageHandler) -> BenchClient:
        if self.spec.client == "raw":
            return RawClient(user, user, token, handler)
        return LoopClient(user, user, token, handler)

    async def _load(self, started: float) -> float:
        """Send for `duration_s`; the largest lag behind the fixed-rate schedule, in ms."""
        if self.spec.rate is None:
            for index in range(len(self._clients)):
                for _ in range(self.spec.window):
                    self._send_within_bounds(index)
            await asyncio.sleep(self.spec.duration_s)
            return 0.0
        return await self._fixed_rate(started, self.spec.rate)

    async def _fixed_rate(self, started: float, per_second: float) -> float:
        total = self._planned_sends() or 0
        sent, max_lag = 0, 0.0
        while sent < total:
            now = time.monotonic()
            due = min(total, int((now - started) * per_second) + 1)
            while sent < due:
                max_lag = max(max_lag, now - (started + sent / per_second))
                self._send(self._rng.randrange(len(self._clients)))
                sent += 1
            # Checked after sending: the last sends fall due just before the deadline,
            # and a wake-up a moment after it must still make them (it did not, at 1,000/s).
            if now >= self._send_deadline:
                break
            await asyncio.sleep(max(0.0, started + sent / per_second - time.monotonic()))
        return max_lag * 1000

    async def _drain(self) -> None:
        """Wait for what is in flight, at most `drain_s`."""
        if not self.ledger.settled:
            self._settled = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.spec.drain_s):
                    await self._settled.wait()
        await asyncio.sleep(SETTLE_GRACE_S)

    def _send_within_bounds(self, index: int) -> None:
        if time.monotonic() < self._send_deadline and (
            self.ledger.sent_count < self.spec.max_messages
        ):
            self._send(index)

    def _send(self, index: int) -> None:
        others = len(self._users) - 1
        other = self._rng.randrange(others)
        recipient = self._users[other + 1 if other >= index else other]
        request_id = f"m{next(self._ids)}"
        payload = json.dumps(
            {"id": request_id, "to": recipient, "kind": "text", "text": f"{request_id} {FILLER}"}
        ).encode()
        # Recorded first: the ack cannot be handled before this returns (one thread).
        self.ledger.sent(request_id, self._users[index], recipient, time.monotonic())
        self._clients[index].publish(self._send_topics[index], payload)

    def _handler(self, index: int) -> MessageHandler:
        user = self._users[index]
        ledger = self.ledger
        full_speed = self.spec.rate is None

        def handle(topic: str, payload: bytes | bytearray) -> None:
            now = time.monotonic()
            body = json.loads(payload)
            if topic.endswith("/in/msg"):
                request_id = str(body.get("text", "")).partition(" ")[0]
                ledger.delivered(user, body["conv"], body["seq"], request_id, now)
            elif topic.endswith("/in/ack"):
                if "error" in body:
                    ledger.refused(str(body.get("id")), str(body["error"].get("code")))
                else:
                    ledger.acked(user, body["id"], body["conv"], body["seq"], now)
                if full_speed:
                    self._send_within_bounds(index)
            if self._settled is not None and ledger.settled:
                self._settled.set()

        return handle

    def _cpu(self) -> dict[str, float]:
        return {
            **self.server.cpu_seconds(),
            "bench": own_cpu_seconds(),
            **machine_sample(),
        }

    def _close_all(self) -> None:
        for client in self._clients:
            client.close()

    async def _report_progress(self, started: float) -> None:
        if self.progress is None:
            return
        while True:
            ledger = self.ledger
            self.progress(
                f"{self.server.mode} {self.spec.phase} run {self.run_index}: "
                f"{min(time.monotonic() - started, self.spec.duration_s):4.1f}/"
                f"{self.spec.duration_s:g}s sent {ledger.sent_count} "
                f"acked {len(ledger.ack_times)} delivered {len(ledger.delivery_times)}"
            )
            await asyncio.sleep(PROGRESS_INTERVAL_S)

    def _result(
        self, started: float, cpu: dict[str, float], max_lag_ms: float, errors: list[str]
    ) -> LoadResult:
        ledger, duration = self.ledger, self.spec.duration_s
        window_end = started + duration
        return LoadResult(
            phase=self.spec.phase,
            mode=self.server.mode,
            run=self.run_index,
            users=self.spec.users,
            duration_s=duration,
            offered_rate=self.spec.rate,
            window=self.spec.window if self.spec.rate is None else None,
            accepted_per_s=rate(count_within(ledger.ack_times, started, window_end), duration),
            delivered_per_s=rate(
                count_within(ledger.delivery_times, started, window_end), duration
            ),
            push=LatencySummary.of(ledger.push_latencies_ms),
            ack=LatencySummary.of(ledger.ack_latencies_ms),
            verdict=ledger.verify(),
            cpu_percent=cpu,
            max_lag_ms=max_lag_ms,
            client=self.spec.client,
            errors=tuple(errors),
        )


async def run_load(
    spec: LoadSpec, server: BenchServer, run_index: int, progress: Progress | None
) -> LoadResult:
    """Create `spec.users` fresh users on `server` and run the phase with them."""
    label = f"{spec.phase}{run_index}{server.mode[0]}"
    tokens = await asyncio.to_thread(server.create_users, spec.users, label)
    phase = LoadPhase(spec, server, tokens, run_index, progress)
    return await phase.run()

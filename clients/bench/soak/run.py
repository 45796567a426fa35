"""One soak run: set the users up, load the server for a while, sample it, drain, judge.

Every loop is bounded: sending, receipts, churn and sampling stop at the deadline, and
the drain at the end gives up after `drain_s`.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from clients.bench.features.common import FeatureServer
from clients.bench.procfs import descendants, machine_sample, own_cpu_seconds, process_rss_bytes
from clients.bench.server import process_tree_cpu
from clients.bench.soak.report import Sample
from clients.bench.soak.spec import SoakResult, SoakSpec
from clients.bench.soak.tracking import Deliveries, Window
from clients.bench.soak.traffic import SoakUser, Traffic
from clients.bench.stats import MACHINE

MiB = 2**20
TICK_S = 0.5  # receipts and churn are looked at this often
PARALLEL_CONNECTS = 50
MAX_CATCH_UP_S = 1.0  # a generator paused longer than this skips, rather than bursts
STALL_S = 5.0  # the drain stops waiting for missing messages after this without progress


@dataclass
class Soak:
    spec: SoakSpec
    server: FeatureServer
    on_sample: Callable[[Sample], None] = lambda _: None
    samples: list[Sample] = field(default_factory=list)
    totals: Window = field(
        default_factory=lambda: Window(latencies_ms=array("d"), ack_latencies_ms=array("d"))
    )
    _groups: dict[str, list[str]] = field(default_factory=dict)
    _back_at: dict[str, float] = field(default_factory=dict)  # offline user -> reconnect time
    _connecting: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.spec.seed)

    async def run(self) -> SoakResult:
        tokens = await asyncio.to_thread(self.server.add_users, self.spec.users, "s")
        users = {user: SoakUser(user, token) for user, token in tokens.items()}
        self.traffic = Traffic(
            self.server.mqtt_port, users, Deliveries(), self.spec.read_share, self.rng
        )
        await self._make_conversations(users)
        await self._connect_all(list(users.values()))
        # What exists now lives to the end: a full collection over it mid-run would pause
        # the generator and show up as latency that is not the server's.
        gc.collect()
        gc.freeze()
        started = time.monotonic()
        deadline = started + self.spec.duration_s
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._send_loop(started, deadline))
            tasks.create_task(self._tick_loop(deadline))
            tasks.create_task(self._sample_loop(started, deadline))
        await self._drain()
        push_gaps = self.traffic.deliveries.shortfall()
        if push_gaps.pairs:
            for name in push_gaps.users:
                self.traffic.resync(users[name])
            await self._drain()
        self._close_window(started)
        for soak_user in users.values():
            self.traffic.disconnect(soak_user)
        return SoakResult(
            self.samples,
            self.totals,
            push_gaps,
            self.traffic.deliveries.shortfall(),
            self.traffic.unanswered,
            self.traffic.problems,
        )

    async def _make_conversations(self, users: dict[str, SoakUser]) -> None:
        names = list(users)
        for soak_user in users.values():
            others = [name for name in names if name != soak_user.user]
            soak_user.contacts = self.rng.sample(others, min(self.spec.contacts, len(others)))
        low, high = self.spec.group_size
        for index in range(self.spec.groups):
            members = self.rng.sample(names, min(len(names), self.rng.randint(low, high)))
            creator = users[members[0]]
            conv = await self.server.create_group(creator.token, f"soak {index}", members[1:])
            self._groups[conv] = members
            self.traffic.deliveries.conversation(conv, tuple(members), first_seq=1)
            # The `created` event goes to every member but its author, who has the answer.
            self.traffic.deliveries.seen(creator.user, conv, 1)
            for member in members:
                users[member].groups.append(conv)
        for soak_user in users.values():
            if soak_user.groups:
                mates = [m for m in self._groups[soak_user.groups[0]] if m != soak_user.user]
                soak_user.watch = self.rng.sample(mates, min(self.spec.watch, len(mates)))

    async def _connect_all(self, users: list[SoakUser]) -> None:
        gate = asyncio.Semaphore(PARALLEL_CONNECTS)

        async def one(soak_user: SoakUser) -> None:
            async with gate:
                await self.traffic.connect(soak_user)

        await asyncio.gather(*(one(soak_user) for soak_user in users))

    async def _send_loop(self, started: float, deadline: float) -> None:
        rate = self.spec.rate
        sent = 0
        while (now := time.monotonic()) < deadline:
            due = int((now - started) * rate) + 1
            if due - sent > rate * MAX_CATCH_UP_S:
                self.traffic.problems.append(f"generator paused at {now - started:.0f}s")
                sent = due - 1
            while sent < due:
                self._send_one()
                sent += 1
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))

    def _send_one(self) -> None:
        traffic, rng = self.traffic, self.rng
        if self._groups and rng.random() < self.spec.group_share:
            conv = rng.choice(list(self._groups))
            sender = self._online_among(self._groups[conv])
            if sender is not None:
                traffic.send(sender, conv=conv)
                return
        sender = self._online_among(list(traffic.users))
        if sender is not None:
            traffic.send(sender, to=rng.choice(sender.contacts))

    def _online_among(self, names: list[str], tries: int = 20) -> SoakUser | None:
        for _ in range(tries):
            candidate = self.traffic.users[self.rng.choice(names)]
            if candidate.online and not candidate.syncing:
                return candidate
        return None

    async def _tick_loop(self, deadline: float) -> None:
        """Receipts from a slice of the users each tick; presence churn."""
        users = list(self.traffic.users.values())
        per_tick = math.ceil(len(users) * TICK_S / self.spec.receipt_interval_s)
        churn_budget, position = 0.0, 0
        while time.monotonic() < deadline:
            await asyncio.sleep(TICK_S)
            for soak_user in users[position : position + per_tick]:
                self.traffic.send_receipts(soak_user)
            position = (position + per_tick) % len(users)
            churn_budget += self.spec.churn_per_min / 60 * TICK_S
            while churn_budget >= 1:
                churn_budget -= 1
                self._take_offline(users)
            self._bring_back(time.monotonic())

    def _take_offline(self, users: list[SoakUser]) -> None:
        for _ in range(20):
            candidate = self.rng.choice(users)
            if candidate.online and not candidate.syncing and candidate.unanswered == 0:
                self.traffic.disconnect(candidate)
                self._back_at[candidate.user] = time.monotonic() + self.rng.uniform(
                    *self.spec.offline_s
                )
                return

    def _bring_back(self, now: float, everyone: bool = False) -> None:
        for name, at in list(self._back_at.items()):
            if everyone or at <= now:
                del self._back_at[name]
                self.traffic.window.reconnects += 1
                task = asyncio.create_task(self.traffic.connect(self.traffic.users[name]))
                self._connecting.add(task)
                task.add_done_callback(self._connecting.discard)

    async def _sample_loop(self, started: float, deadline: float) -> None:
        cpu_before = self._cpu()
        next_at = started + self.spec.sample_s
        while next_at <= deadline + 1e-6:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            cpu_now = self._cpu()
            self._close_window(started, cpu_before, cpu_now)
            cpu_before = cpu_now
            next_at += self.spec.sample_s

    def _close_window(
        self,
        started: float,
        cpu_before: dict[str, float] | None = None,
        cpu_now: dict[str, float] | None = None,
    ) -> None:
        """Fold the window into the totals; record it as a sample when CPU is given."""
        window, self.traffic.window = self.traffic.window, Window()
        window.add_to(self.totals)
        self.traffic.forget_old_sends(time.monotonic())
        if cpu_before is None or cpu_now is None:
            return
        counts = window.summary()
        share = {
            name: 100 * (cpu_now.get(name, 0.0) - cpu_before.get(name, 0.0)) / self.spec.sample_s
            for name in ("server", "broker", "bench", MACHINE)
        }
        pid = self.server.process.pid if self.server.process else 0
        sample = Sample(
            t_s=round(time.monotonic() - started, 1),
            server_rss_mib=(process_rss_bytes(pid) or 0) / MiB,
            broker_rss_mib=sum(process_rss_bytes(child) or 0 for child in descendants(pid)) / MiB,
            server_cpu_pct=share["server"],
            broker_cpu_pct=share["broker"],
            bench_cpu_pct=share["bench"],
            machine_cpu_pct=share[MACHINE],
            online=sum(1 for u in self.traffic.users.values() if u.online),
            sent=window.sent,
            acked=window.acked,
            delivered_live=window.live,
            delivered_sync=window.synced,
            redelivered=window.redelivered,
            receipts_sent=window.receipts_sent,
            receipt_events=window.receipt_events,
            presence=window.presence,
            reconnects=window.reconnects,
            errors=window.errors + window.refused,
            p50_ms=counts["p50_ms"],
            p99_ms=counts["p99_ms"],
            max_ms=counts["max_ms"],
            ack_p99_ms=counts["ack_p99_ms"],
        )
        self.samples.append(sample)
        self.on_sample(sample)

    def _cpu(self) -> dict[str, float]:
        """CPU seconds so far: the server, its broker, this process, the whole machine."""
        if self.server.process is None:
            return {}
        server = process_tree_cpu(self.server.process.pid, label="server", child_label="broker")
        return server | {"bench": own_cpu_seconds(), **machine_sample()}

    async def _drain(self) -> None:
        """Everyone back online and synced, every send answered, and nothing missing (or
        nothing more arriving for STALL_S); at most `drain_s`."""
        self._bring_back(time.monotonic(), everyone=True)
        deadline = time.monotonic() + self.spec.drain_s
        traffic = self.traffic
        missing, since = -1, time.monotonic()
        while (now := time.monotonic()) < deadline:
            quiet = (
                not self._connecting
                and traffic.unanswered == 0
                and not any(u.syncing for u in traffic.users.values())
            )
            short = traffic.deliveries.shortfall().seqs
            if short != missing:
                missing, since = short, now
            if quiet and (short == 0 or now - since >= STALL_S):
                return
            await asyncio.sleep(0.5)  # many conditions, no single event to await

"""Many persistent connections: connect them, hold them, shut the broker down under them.

Each user connects with clean session false (as mqchat's clients do) and subscribes
to its inbox, `concurrency` connections at a time (the listen backlog is 100). The
run stops at `target` connections, or earlier at `time_cap_s` (stock amqtt slows down
with every session it holds; see `extrapolate`). While the connections are held the
broker is pinged through a sample of them, and any it drops are counted. Then the
broker gets SIGTERM with every connection still open, and the time until its process
exits is its shutdown time.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from tests.broker.bench.process import BrokerProcess, OthersLoad
from tests.broker.bench.wire import WireClient, open_client

CHECKPOINT_EVERY = 500
PING_SAMPLE = 100
SHUTDOWN_CAP_S = 120.0


@dataclass
class ConnectionsResult:
    """What one run measured; times in seconds, memory in bytes."""

    label: str
    target: int
    connected: int = 0
    connect_s: float = 0.0
    checkpoints: list[tuple[int, float]] = field(default_factory=list)
    stopped_early: str | None = None
    rss_before: int = 0
    rss_connected: int = 0
    rss_held: int = 0
    held_s: float = 0.0
    dropped: int = 0
    ping_ms: list[float] = field(default_factory=list)
    shutdown_s: float | None = None
    """None: still running after `SHUTDOWN_CAP_S`, killed."""
    others_percent: float = 0.0
    """Other processes' CPU while connecting and holding, in percent of one core."""

    @property
    def rate(self) -> float:
        return self.connected / self.connect_s if self.connect_s else 0.0

    @property
    def bytes_per_connection(self) -> float:
        return (self.rss_connected - self.rss_before) / self.connected if self.connected else 0.0


async def many_connections(
    broker: BrokerProcess,
    users: Mapping[str, str],
    *,
    target: int,
    count_cap: int,
    time_cap_s: float,
    hold_s: float,
    concurrency: int = 32,
) -> ConnectionsResult:
    """Connect `target` of `users` (at most `count_cap`, for at most `time_cap_s`), hold
    them `hold_s`, then stop the broker."""
    result = ConnectionsResult(broker.label, target)
    everyone = list(users.items())
    accounts = iter(everyone[: min(target, count_cap)])
    warm_user, warm_token = everyone[-1]  # not one of those measured
    warm = await open_client(broker.port, f"{warm_user}:warm", warm_user, warm_token)
    await warm.subscribe(f"chat/u/{warm_user}/in/#")
    warm.close()
    await asyncio.sleep(0.5)  # let the broker forget the warm-up session
    result.rss_before = broker.rss()
    clients: list[WireClient] = []
    try:
        load = OthersLoad(broker)
        await _connect_all(broker.port, accounts, clients, result, time_cap_s, concurrency)
        result.rss_connected = broker.rss()
        await _hold(clients, result, hold_s)
        result.rss_held = broker.rss()
        result.others_percent = load.percent()
        result.shutdown_s = await asyncio.to_thread(broker.stop, SHUTDOWN_CAP_S)
    finally:
        for client in clients:
            client.close()
    return result


async def _connect_all(
    port: int,
    accounts: Iterator[tuple[str, str]],
    clients: list[WireClient],
    result: ConnectionsResult,
    time_cap_s: float,
    concurrency: int,
) -> None:
    started = time.perf_counter()
    deadline = started + time_cap_s

    async def connect_some() -> None:
        # Workers share one iterator: each account is taken once, by whichever is free.
        for user, token in accounts:
            if time.perf_counter() > deadline:
                result.stopped_early = f"time cap of {time_cap_s:.0f}s"
                return
            client = await open_client(port, user, user, token, clean=False)
            clients.append(client)
            await client.subscribe(f"chat/u/{user}/in/#")
            result.connected += 1
            if result.connected % CHECKPOINT_EVERY == 0:
                result.checkpoints.append((result.connected, time.perf_counter() - started))

    async with asyncio.timeout(time_cap_s + 120):
        await asyncio.gather(*(connect_some() for _ in range(concurrency)))
    result.connect_s = time.perf_counter() - started
    if result.connected < result.target and result.stopped_early is None:
        result.stopped_early = f"count cap of {result.connected:,}"


async def _hold(clients: list[WireClient], result: ConnectionsResult, hold_s: float) -> None:
    """Keep every connection open for `hold_s`, pinging through a rotating sample each second."""
    started = time.perf_counter()
    sample = itertools.cycle(range(len(clients))) if clients else None
    while (elapsed := time.perf_counter() - started) < hold_s and sample is not None:
        chosen = [clients[next(sample)] for _ in range(min(PING_SAMPLE, len(clients)))]
        result.ping_ms += await asyncio.gather(*(_ping_ms(client) for client in chosen))
        await asyncio.sleep(max(0.0, min(1.0, hold_s - elapsed)))
    result.held_s = time.perf_counter() - started
    result.dropped = sum(client.closed.done() for client in clients)


async def _ping_ms(client: WireClient) -> float:
    started = time.perf_counter()
    await client.ping()
    return (time.perf_counter() - started) * 1000


def extrapolate(checkpoints: list[tuple[int, float]], count: int) -> float | None:
    """Seconds to connect `count`, from a least-squares fit of t(n) = a n + b n^2.

    amqtt's connect cost grows with the sessions already held (linear per connect,
    so quadratic in all), which this fits; None with fewer than two checkpoints.
    """
    if len(checkpoints) < 2:
        return None
    # Normal equations of the two-parameter fit through the origin.
    s2 = sum(n**2 for n, _ in checkpoints)
    s3 = sum(n**3 for n, _ in checkpoints)
    s4 = sum(n**4 for n, _ in checkpoints)
    t1 = sum(n * t for n, t in checkpoints)
    t2 = sum(n**2 * t for n, t in checkpoints)
    determinant = s2 * s4 - s3 * s3
    if determinant == 0:
        return None
    a = (t1 * s4 - t2 * s3) / determinant
    b = (s2 * t2 - s3 * t1) / determinant
    return a * count + b * count**2

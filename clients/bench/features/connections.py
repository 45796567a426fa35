"""Many connected users: real accounts, each connected with its own token, held a while.

`users` accounts are imported with `mqchat user import`; each connects as a real
client does (persistent session, `offline` will, subscribed to its inbox at QoS 1,
`online` announced), `concurrency` connections at a time. The connections are then
held for `hold_s` while the server's and the broker's resident memory is sampled
every second and `probes` 1:1 messages between random connected users are sent end
to end (sender's publish to recipient's `in/msg`), one after the other: the server
must still work with everyone connected. The clients are `rawmqtt` protocol objects
(no thread, no task each), so that 10,000 of them fit in the bench's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clients.bench.features.common import OFFLINE, ONLINE, FeatureServer
from clients.bench.mqtt import MqttFailure
from clients.bench.procfs import broker_pids, machine_sample, own_cpu_seconds, process_rss_bytes
from clients.bench.rawmqtt import RawClient
from clients.bench.server import server_and_broker_cpu
from clients.bench.stats import OTHERS, cpu_percent, percentile

MIB = 2**20
CONNECT_LIMIT_S = 300.0
PROBE_WAIT_S = 10.0
SAMPLE_S = 1.0
FD_SPARE = 200


class _Probes:
    """Probe messages in flight: when each was sent and when its recipient had it."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.latencies_ms: list[float] = []
        self.arrived = asyncio.Event()

    def handler(self, user: str) -> Callable[[str, bytes], None]:
        def on_message(topic: str, payload: bytes) -> None:
            if not topic.endswith("/in/msg"):
                return
            key = str(json.loads(payload).get("text", ""))
            if key in self.sent:
                self.latencies_ms.append((time.monotonic() - self.sent.pop(key)) * 1000)
                self.arrived.set()

        return on_message


async def run(
    workdir: Path, users: int, hold_s: float, probes: int, broker: str, concurrency: int = 32
) -> dict[str, Any]:
    """Connect `users` real users to a fresh server running `broker`; see the module doc."""
    _raise_fd_limit(users + FD_SPARE)
    server = FeatureServer.for_broker(workdir / "connections", broker)
    server.start()
    try:
        imported = time.monotonic()
        tokens = server.add_users(users, "c")
        import_s = time.monotonic() - imported
        return {"connections_import_s": import_s} | await _measure(
            server, tokens, hold_s, probes, concurrency
        )
    finally:
        server.stop()


async def _measure(
    server: FeatureServer, tokens: dict[str, str], hold_s: float, probes: int, concurrency: int
) -> dict[str, Any]:
    pending = _Probes()
    clients: list[RawClient] = []
    before = _rss(server)
    cpu_before = _cpu(server)
    started = time.monotonic()
    try:
        async with asyncio.timeout(CONNECT_LIMIT_S):
            await _connect_all(server.mqtt_port, tokens, pending, clients, concurrency)
        connect_s = time.monotonic() - started
        connect_cpu = cpu_percent(cpu_before, _cpu(server), connect_s)
        connected = _rss(server)
        peak, latencies = await _hold(clients, pending, hold_s, probes, server)
        dropped = sum(client.lost is not None for client in clients)
    finally:
        for client in clients:
            client.close()
    ordered = sorted(latencies)
    return {
        "connections_users": len(tokens),
        "connections_connected": len(clients),
        "connections_connect_s": connect_s,
        "connections_per_s": len(clients) / connect_s if connect_s else 0.0,
        # What limited the connecting: who was busy meanwhile (% of one core).
        **{
            f"connections_connect_cpu_{name}_pct": connect_cpu.get(name, float("nan"))
            for name in ("server", "broker", "bench", OTHERS)
        },
        "connections_dropped": dropped,
        "connections_rss_server_mib_before": before["server"] / MIB,
        "connections_rss_server_mib_held_max": peak["server"] / MIB,
        "connections_rss_broker_mib_before": before["broker"] / MIB,
        "connections_rss_broker_mib_connected": connected["broker"] / MIB,
        "connections_rss_broker_mib_held_max": peak["broker"] / MIB,
        "connections_broker_kib_per_connection": (
            (connected["broker"] - before["broker"]) / 1024 / max(1, len(clients))
        ),
        "connections_probes": probes,
        "connections_probes_delivered": len(ordered),
        "connections_probe_ms_p50": percentile(ordered, 50),
        "connections_probe_ms_max": ordered[-1] if ordered else float("nan"),
    }


async def _connect_all(
    port: int,
    tokens: dict[str, str],
    pending: _Probes,
    clients: list[RawClient],
    concurrency: int,
) -> None:
    accounts = iter(tokens.items())

    async def connect_some() -> None:
        # Workers share one iterator: each account is taken once, by whichever is free.
        for user, token in accounts:
            client = RawClient(
                user,
                user,
                token,
                pending.handler(user),
                clean=False,
                will=(f"chat/u/{user}/presence", OFFLINE.encode()),
            )
            clients.append(client)
            await client.connect(port)
            await client.subscribe(f"chat/u/{user}/in/#")
            client.publish(f"chat/u/{user}/presence", ONLINE.encode())

    await asyncio.gather(*(connect_some() for _ in range(concurrency)))


async def _hold(
    clients: list[RawClient], pending: _Probes, hold_s: float, probes: int, server: FeatureServer
) -> tuple[dict[str, int], list[float]]:
    """Hold every connection `hold_s`, probing end to end; (peak RSS, probe latencies)."""
    peak = _rss(server)
    started = time.monotonic()
    rng = random.Random(8)
    interval = hold_s / max(1, probes)
    for index in range(probes):
        sender, recipient = rng.sample(range(len(clients)), 2)
        key = f"probe{index}"
        body = {"id": key, "to": clients[recipient].client_id, "text": key}
        pending.arrived.clear()
        pending.sent[key] = time.monotonic()
        clients[sender].publish(
            f"chat/u/{clients[sender].client_id}/send", json.dumps(body).encode()
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PROBE_WAIT_S):
                while key in pending.sent:
                    await pending.arrived.wait()
                    pending.arrived.clear()
        peak = _max(peak, _rss(server))
        await asyncio.sleep(max(0.0, started + (index + 1) * interval - time.monotonic()))
    while time.monotonic() - started < hold_s:
        await asyncio.sleep(min(SAMPLE_S, hold_s - (time.monotonic() - started)))
        peak = _max(peak, _rss(server))
    return peak, list(pending.latencies_ms)


def _rss(server: FeatureServer) -> dict[str, int]:
    """Resident bytes of the server process and of its broker child (0 when unknown)."""
    pid = server.pid
    if pid is None:
        return {"server": 0, "broker": 0}
    return {
        "server": process_rss_bytes(pid) or 0,
        "broker": sum(process_rss_bytes(child) or 0 for child in broker_pids(pid)),
    }


def _cpu(server: FeatureServer) -> dict[str, float]:
    """CPU seconds so far: the server, its broker, this process, the whole machine."""
    pid = server.pid
    own = server_and_broker_cpu(pid) if pid is not None else {}
    return {**own, "bench": own_cpu_seconds(), **machine_sample()}


def _max(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {name: max(a[name], b[name]) for name in a}


def _raise_fd_limit(needed: int) -> None:
    """Raise the soft open-file limit towards the hard one: one socket per client here,
    and the broker (a child, which inherits it) holds as many."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise MqttFailure(f"the open-file limit ({hard}) is below the {needed} needed")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))

"""Group fan-out: latency to the last member, then sustained group messages per second."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from clients.bench.features.common import FeatureServer, Peer, close_all, open_all, wait_until
from clients.bench.stats import percentile

WAIT_S = 15.0


async def run(
    workdir: Path, members: int, probes: int, sustain_s: float, window: int, broker: str
) -> dict[str, Any]:
    """One group of `members` (creator included), all connected; see the module doc."""
    server = FeatureServer.for_broker(workdir / "data", broker)
    server.start()
    try:
        return await _measure(server, members, probes, sustain_s, window)
    finally:
        server.stop()


async def _measure(
    server: FeatureServer, members: int, probes: int, sustain_s: float, window: int
) -> dict[str, Any]:
    tokens = server.add_users(members, "g")
    users = list(tokens)
    creator, others = users[0], users[1:]
    received: dict[str, int] = defaultdict(int)  # message id -> members that got it
    last_at: dict[str, float] = {}
    got: dict[str, set[str]] = defaultdict(set)  # member -> message ids
    acks: dict[str, float] = {}
    sustained_acks = [0]

    def handle(peer: Peer, topic: str, body: dict[str, Any], retain: bool) -> None:
        if topic.endswith("/in/ack") and "seq" in body:
            acks[body["id"]] = time.monotonic()
            sustained_acks[0] += body["id"].startswith("s")
        elif topic.endswith("/in/msg") and body.get("kind") != "event":
            key = body.get("text", "")
            if key not in got[peer.user]:
                got[peer.user].add(key)
                received[key] += 1
                last_at[key] = time.monotonic()

    peers = [Peer(server.mqtt_port, user, tokens[user], handle) for user in users]
    await open_all(peers)
    try:
        conv = await server.create_group(tokens[creator], "bench", others)
        sender = peers[0]
        latencies = []
        for index in range(probes):
            key = f"p{index}"
            started = time.monotonic()
            await sender.publish("send", {"id": key, "conv": conv, "text": key})
            if not await wait_until(lambda k=key: received[k] >= len(others), WAIT_S):  # type: ignore[misc]
                break
            latencies.append((last_at[key] - started) * 1000)
        latencies.sort()

        sent = 0
        started = time.monotonic()
        while time.monotonic() - started < sustain_s:
            if sent - sustained_acks[0] < window:
                key = f"s{sent}"
                await sender.publish("send", {"id": key, "conv": conv, "text": key})
                sent += 1
            else:
                await asyncio.sleep(0.001)
        acked = [k for k in acks if k.startswith("s")]
        elapsed = max(acks[k] for k in acked) - started if acked else sustain_s
        await wait_until(lambda: all(received[k] >= len(others) for k in acked), WAIT_S, 0.05)
        losses = sum(len(others) - received[k] for k in acked)
        delivered = sum(received[k] for k in acked)
        spread = max((last_at.get(k, started) for k in acked), default=started) - started
        return {
            "group_members": members,
            "fanout_probes": len(latencies),
            "fanout_last_member_ms_p50": percentile(latencies, 50),
            "fanout_last_member_ms_p99": percentile(latencies, 99),
            "fanout_last_member_ms_max": latencies[-1] if latencies else float("nan"),
            "group_sustained_acked": len(acked),
            "group_msgs_per_s": len(acked) / elapsed,
            "group_deliveries_per_s": delivered / max(spread, elapsed),
            "group_losses": losses + (probes - len(latencies)) * len(others),
        }
    finally:
        await close_all(peers)

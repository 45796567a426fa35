"""Presence: flips per second seen by a watcher, and everyone online again after kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt

from clients.bench.features.common import (
    HOST,
    ONLINE,
    FeatureServer,
    Peer,
    close_all,
    open_all,
    presence_will,
    wait_until,
)

GROUP_MAX_OTHERS = 250
FLIP_WAIT_S = 30.0
RECONNECT_WAIT_S = 120.0


class Watcher:
    """Collects, per user, the presence states seen on `presence/<user>`."""

    def __init__(self) -> None:
        self.flips = 0
        self.state: dict[str, str] = {}
        self.ts: dict[str, int] = {}

    def handle(self, topic: str, body: dict[str, Any], retain: bool) -> None:
        if not topic.startswith("presence/"):
            return
        user = topic.removeprefix("presence/")
        if not retain and self.state.get(user) != body.get("state"):
            self.flips += 1
        self.state[user], self.ts[user] = str(body.get("state")), int(body.get("ts", 0))

    def count(self, state: str, since_ms: int = 0) -> int:
        return sum(1 for u, s in self.state.items() if s == state and self.ts[u] >= since_ms)


async def _setup(server: FeatureServer, users: int) -> tuple[dict[str, str], str, str]:
    """`users` users plus a watcher sharing groups of at most 251 with all of them."""
    tokens = server.add_users(users, "p")
    watcher = server.add_users(1, "w")
    name, token = next(iter(watcher.items()))
    names = list(tokens)
    for start in range(0, users, GROUP_MAX_OTHERS):
        await server.create_group(token, f"watch{start}", names[start : start + GROUP_MAX_OTHERS])
    return tokens, name, token


async def flips_per_s(workdir: Path, users: int, rounds: int, broker: str) -> dict[str, Any]:
    """All `users` connect, then all disconnect cleanly, `rounds` times."""
    server = FeatureServer.for_broker(workdir / "flips", broker)
    server.start()
    try:
        tokens, name, token = await _setup(server, users)
        watch = Watcher()
        watcher = await Peer(server.mqtt_port, name, token, lambda _, *m: watch.handle(*m)).open(
            [f"presence/{u}" for u in tokens]
        )
        await asyncio.sleep(0.5)  # the retained offline states
        started, expected = time.monotonic(), 0
        for _ in range(rounds):
            peers = [Peer(server.mqtt_port, u, t, lambda *a: None) for u, t in tokens.items()]
            await open_all(peers)
            expected += users
            await wait_until(lambda e=expected: watch.flips >= e, FLIP_WAIT_S)  # type: ignore[misc]
            await close_all(peers)
            expected += users
            await wait_until(lambda e=expected: watch.flips >= e, FLIP_WAIT_S)  # type: ignore[misc]
        elapsed = time.monotonic() - started
        await watcher.close()
        return {
            "presence_users": users,
            "presence_flips_expected": expected,
            "presence_flips_seen": watch.flips,
            "presence_flips_per_s": watch.flips / elapsed,
        }
    finally:
        server.stop()


async def _stay_connected(
    port: int,
    user: str,
    token: str,
    topics: list[str],
    handler: Callable[[aiomqtt.Message], None] | None,
    stop: asyncio.Event,
) -> None:
    """Keep one client connected until `stop`, reconnecting with a small jittered backoff."""
    delay = 0.05
    while not stop.is_set():
        try:
            async with aiomqtt.Client(
                HOST,
                port,
                username=user,
                password=token,
                identifier=user,
                protocol=aiomqtt.ProtocolVersion.V311,
                clean_session=True,
                will=presence_will(user),
                timeout=30,
            ) as client:
                delay = 0.05
                for start in range(0, len(topics), 100):
                    await client.subscribe([(t, 1) for t in topics[start : start + 100]])
                # As every client must: on Mosquitto this is the only sign of it.
                await client.publish(f"chat/u/{user}/presence", ONLINE, qos=1)
                async for message in client.messages:
                    if handler is not None:
                        handler(message)
        except aiomqtt.MqttError:
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)


async def online_after_restart(workdir: Path, users: int, broker: str) -> dict[str, Any]:
    """`users` connected; kill -9, restart; time until the watcher sees all of them online."""
    server = FeatureServer.for_broker(workdir / "restart", broker)
    server.start()
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        tokens, name, token = await _setup(server, users)
        watch = Watcher()

        def seen(message: aiomqtt.Message) -> None:
            body = message.payload if isinstance(message.payload, bytes) else b"{}"
            watch.handle(message.topic.value, json.loads(body), message.retain)

        topics = [f"presence/{u}" for u in tokens]
        tasks.append(
            asyncio.create_task(_stay_connected(server.mqtt_port, name, token, topics, seen, stop))
        )
        for user, tok in tokens.items():
            tasks.append(
                asyncio.create_task(_stay_connected(server.mqtt_port, user, tok, [], None, stop))
            )
            await asyncio.sleep(0.002)
        connected = await wait_until(lambda: watch.count("online") == users, RECONNECT_WAIT_S, 0.05)
        before = watch.count("online")
        server.kill()
        await asyncio.sleep(0.5)
        restart_ms = int(time.time() * 1000)
        ready = server.start()
        all_online = await wait_until(
            lambda: watch.count("online", restart_ms) == users, RECONNECT_WAIT_S, 0.02
        )
        return {
            "restart_users": users,
            "restart_online_before_kill": before,
            "restart_all_connected_before_kill": connected,
            "restart_online_seen": watch.count("online", restart_ms),
            "restart_all_online_s": time.monotonic() - ready if all_online else float("nan"),
        }
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
        server.stop()

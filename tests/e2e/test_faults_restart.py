"""A restart while 1,000 clients are connected: all reconnect, sync and converge.

Five hundred pairs of `LightClient`s (bare MQTT, reconnecting with backoff and jitter,
syncing after each connect, retrying sends until acked): each pair exchanges a message
before the restart, one queued in the sender's outbox while the server is down, and
one after everybody is back. The server stops cleanly (SIGTERM, with every connection
open) and starts again on the same ports; in the end every recipient has all three.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.light_client import LightClient
from tests.support.server import ServerProcess

CLIENTS = 1000
PHASE_TIMEOUT_S = 60.0


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data")
    process.start()
    yield process
    process.kill()


async def everyone(clients: list[LightClient], what: str, condition: str) -> float:
    """Wait until `condition` (an attribute event name) is set on every client; seconds."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(PHASE_TIMEOUT_S):
            await asyncio.gather(*(getattr(client, condition).wait() for client in clients))
    except TimeoutError:
        late = [c.user for c in clients if not getattr(c, condition).is_set()]
        raise AssertionError(f"{len(late)} clients never {what}: {late[:10]}") from None
    return time.monotonic() - started


def send_round(clients: list[LightClient], round_name: str) -> None:
    """Every even client writes to its odd neighbour."""
    for sender, recipient in zip(clients[::2], clients[1::2], strict=True):
        text = f"{round_name} {sender.user}"
        sender.send({"id": round_name, "to": recipient.user, "text": text})


async def all_acked(clients: list[LightClient]) -> float:
    started = time.monotonic()
    async with asyncio.timeout(PHASE_TIMEOUT_S):
        await asyncio.gather(*(client.wait_acked() for client in clients[::2]))
    return time.monotonic() - started


@pytest.mark.slow
async def test_a_restart_with_1000_clients_connected_converges(own_server: ServerProcess) -> None:
    server = own_server
    users = [f"l{index:04d}" for index in range(CLIENTS)]
    tokens = server.add_users(users)
    clients = [LightClient(server.mqtt_port, user, tokens[user]) for user in users]
    tasks = [asyncio.create_task(client.run()) for client in clients]
    try:
        connected_s = await everyone(clients, "connected and synced", "synced")
        send_round(clients, "before")
        await all_acked(clients)

        stopping = time.monotonic()
        assert await asyncio.to_thread(server.stop) == 0, server.log()
        stop_s = time.monotonic() - stopping
        send_round(clients, "during")  # waits in the outboxes
        await asyncio.to_thread(server.start)  # same ports, same data
        restarted = time.monotonic()
        back_s = await everyone(clients, "came back and synced", "synced")
        during_acked_s = await all_acked(clients)
        send_round(clients, "after")
        await all_acked(clients)
        assert all(client.connects >= 2 for client in clients)

        acks = {(c.user, r): c.acks[r] for c in clients[::2] for r in ("before", "during", "after")}
        expected = {
            recipient.user: {
                (acks[(sender.user, r)]["conv"], acks[(sender.user, r)]["seq"])
                for r in ("before", "during", "after")
            }
            for sender, recipient in zip(clients[::2], clients[1::2], strict=True)
        }
        async with asyncio.timeout(PHASE_TIMEOUT_S):
            while missing := [c.user for c in clients[1::2] if not expected[c.user] <= c.seen]:
                await asyncio.sleep(0.1)  # no event for "the last one arrived"
        converged_s = time.monotonic() - restarted
        print(
            f"\n{CLIENTS} clients connected and synced in {connected_s:.1f}s; clean stop with "
            f"all connected {stop_s:.1f}s; after the start all back and synced in {back_s:.1f}s, "
            f"the sends queued while down acked {during_acked_s:.1f}s later; "
            f"every message shown {converged_s:.1f}s after the start"
        )
        assert not missing
        assert all(len(c.seen) == 3 for c in clients[1::2])
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(client.close() for client in clients))

"""Read receipts per second over MQTT, and the store-level cost of one wide receipt."""

from __future__ import annotations

import sqlite3
import statistics
import time
from importlib import resources
from pathlib import Path
from typing import Any

from backend.store import queries
from backend.store.base import NewUser, ReceiptCommand, SendCommand
from backend.store.sqlite_accounts import add_users
from backend.store.sqlite_messages import apply_receipt, send
from clients.bench.features.common import FeatureServer, Peer, close_all, open_all, wait_until

WAIT_S = 60.0
DM = "dm:alice:bob"


async def run(
    workdir: Path, users: int, per_side: int, receipts: int, broker: str, store_cost: bool = True
) -> dict[str, Any]:
    """`users` in `users // 2` DMs, `per_side` messages each way, then `receipts` reads each;
    with `store_cost`, the store-level cost of a wide receipt too (no broker involved, so
    measured once when several brokers are compared)."""
    server = FeatureServer.for_broker(workdir / "data", broker)
    server.start()
    try:
        result = await _measure(server, users - users % 2, per_side, receipts)
    finally:
        server.stop()
    if store_cost:
        result |= {f"receipt_cost_us_{n}": wide_receipt_cost_us(workdir, n) for n in (10, 10_000)}
    return result


async def _measure(
    server: FeatureServer, users: int, per_side: int, receipts: int
) -> dict[str, Any]:
    tokens = server.add_users(users, "r")
    names = list(tokens)
    acks: dict[str, int] = {}
    synced: dict[str, float] = {}
    errors: list[dict[str, Any]] = []

    def handle(peer: Peer, topic: str, body: dict[str, Any], retain: bool) -> None:
        if topic.endswith("/in/ack"):
            acks[peer.user] = acks.get(peer.user, 0) + 1
            if "error" in body:
                errors.append(body)
        elif topic.endswith("/in/sync"):
            synced[peer.user] = time.monotonic()
        elif topic.endswith("/in/error"):
            errors.append(body)

    peers = {user: Peer(server.mqtt_port, user, tokens[user], handle) for user in names}
    await open_all(list(peers.values()))
    try:
        pairs = [(names[i], names[i + 1]) for i in range(0, users, 2)]
        partner = {a: b for a, b in pairs} | {b: a for a, b in pairs}
        for index in range(per_side):  # both sides, all DMs at once, one message per round
            for user in names:
                body = {"id": f"m{index}", "to": partner[user], "text": f"hello {index}"}
                await peers[user].publish("send", body)
            await wait_until(lambda i=index: all(acks.get(u, 0) > i for u in names), WAIT_S)  # type: ignore[misc]
        convs = {user: "dm:" + ":".join(sorted((user, partner[user]))) for user in names}
        started = time.monotonic()
        for read in range(1, receipts + 1):
            for user in names:
                await peers[user].publish("receipt", {"conv": convs[user], "read": read})
        for user in names:
            await peers[user].publish("sync", {"id": "barrier", "limit": 1})
        done = await wait_until(lambda: len(synced) == users, WAIT_S)
        elapsed = max(synced.values()) - started
        return {
            "receipt_users": users,
            "receipts_sent": users * receipts,
            "receipts_per_s": users * receipts / elapsed,
            "receipt_barriers_missing": 0 if done else users - len(synced),
            "receipt_errors": len(errors),
        }
    finally:
        await close_all(list(peers.values()))


def wide_receipt_cost_us(workdir: Path, messages: int, repeats: int = 20) -> float:
    """Median time of `apply_receipt` reading `messages` messages at once, in microseconds."""
    times = []
    for attempt in range(repeats):
        folder = workdir / f"cost-{messages}-{attempt}"
        folder.mkdir(parents=True)
        db = _database(folder, messages)
        command = ReceiptCommand("bob", DM, delivered=None, read=messages, ts=99)
        started = time.perf_counter()
        apply_receipt(db, command)
        times.append((time.perf_counter() - started) * 1e6)
        db.close()
    return statistics.median(times)


def _database(folder: Path, messages: int) -> sqlite3.Connection:
    """A store holding one DM of `messages` messages from alice (as its tests build it)."""
    db = sqlite3.connect(folder / "cost.db", isolation_level=None)
    db.row_factory = sqlite3.Row
    db.executescript(resources.files("backend.store").joinpath("schema.sql").read_text())
    add_users(
        db,
        [
            NewUser("alice", "+10000000001", "", b"a" * 32),
            NewUser("bob", "+10000000002", "", b"b" * 32),
        ],
        now=1,
    )
    send(db, SendCommand("alice", "first", DM, "text", "x", None, 1))
    rows = ((DM, seq, "alice", f"m{seq}", seq, "text", "x", None) for seq in range(2, messages + 1))
    db.execute("BEGIN")
    db.executemany(queries.INSERT_MESSAGE, rows)
    db.execute("UPDATE conversations SET last_seq = ? WHERE conv = ?", (messages, DM))
    db.execute("COMMIT")
    return db

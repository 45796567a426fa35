"""Older measurements, one variant at a time: refused CONNECTs and 50-user throughput.

    python -m tests.broker.bench refused [--stock] [--count 3000]
    python -m tests.broker.bench throughput [--loop uvloop|asyncio] [--stock]

The broker runs in a process of its own (`BrokerProcess`), as in production; the
load comes from raw asyncio sockets in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from backend.accounts import BACKEND_CLIENT_ID, BACKEND_USERNAME, backend_password
from tests.broker.bench.process import BrokerProcess
from tests.broker.raw import HOST, connect_packet, packet, publish_packet, subscribe_packet
from tests.broker.support import make_data_dir, tokens

REPO = Path(__file__).parents[2]


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first = (await reader.readexactly(1))[0]
    length, multiplier = 0, 1
    for _ in range(4):
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) * multiplier
        multiplier *= 128
        if not byte & 0x80:
            break
    return first, await reader.readexactly(length)


async def open_client(port: int, *connect: Any, **options: Any) -> Any:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(connect_packet(*connect, **options))
    first, body = await read_packet(reader)
    assert first == 0x20 and body[1] == 0, (first, body)
    return reader, writer


async def refused(port: int, count: int) -> None:
    for n in range(count):
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(connect_packet(f"alice:{n}", "alice", "wrong", clean=False))
        await read_packet(reader)
        writer.close()
        await writer.wait_closed()


def measure_refused(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        make_data_dir(data_dir, tokens("alice"))
        with BrokerProcess(data_dir, stock=args.stock, loop=args.loop) as broker:
            asyncio.run(refused(broker.port, 100))  # warm up
            before = broker.rss()
            started = time.monotonic()
            asyncio.run(refused(broker.port, args.count))
            took = time.monotonic() - started
            after = broker.rss()
            print(
                f"{'stock' if args.stock else 'patched'} {args.loop}: {args.count} refused CONNECTs in "
                f"{took:.1f}s; RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB "
                f"(+{(after - before) / 2**10:.0f} KiB, "
                f"{(after - before) / args.count:.0f} B each)"
            )


async def fan_in(port: int, users: dict[str, str], per_user: int, window: int) -> float:
    """Users publish QoS 1 requests; the backend receives and acks them. Messages/s."""
    backend = await open_client(
        port, BACKEND_CLIENT_ID, BACKEND_USERNAME, users.pop(BACKEND_USERNAME)
    )
    backend[1].write(subscribe_packet(1, [("chat/u/+/send", 1)]))
    assert (await read_packet(backend[0]))[0] == 0x90
    clients = [await open_client(port, user, user, token) for user, token in users.items()]
    total = per_user * len(clients)

    async def receive() -> None:
        reader, writer = backend
        for _ in range(total):
            _, body = await read_packet(reader)
            topic_length = int.from_bytes(body[:2], "big")
            packet_id = body[2 + topic_length : 4 + topic_length]
            writer.write(packet(0x40, packet_id))

    async def send(user: str, client: Any) -> None:
        reader, writer = client
        payload = b'{"id":"m","to":"bob","text":"hello there"}'
        sent = acked = 0
        while acked < per_user:
            while sent < per_user and sent - acked < window:
                sent += 1
                writer.write(publish_packet(f"chat/u/{user}/send", payload, 1, sent % 65535 + 1))
            await read_packet(reader)
            acked += 1

    started = time.monotonic()
    await asyncio.gather(receive(), *(send(u, c) for u, c in zip(users, clients, strict=True)))
    return total / (time.monotonic() - started)


async def fan_out(port: int, users: dict[str, str], per_user: int, window: int) -> float:
    """The backend publishes QoS 1 messages to every user's inbox. Messages/s."""
    password = users.pop(BACKEND_USERNAME)
    clients = {user: await open_client(port, user, user, token) for user, token in users.items()}
    for user, (reader, writer) in clients.items():
        writer.write(subscribe_packet(1, [(f"chat/u/{user}/in/#", 1)]))
        assert (await read_packet(reader))[0] == 0x90
    backend = await open_client(port, BACKEND_CLIENT_ID, BACKEND_USERNAME, password)
    total = per_user * len(clients)

    async def receive(client: Any) -> None:
        reader, writer = client
        for _ in range(per_user):
            _, body = await read_packet(reader)
            topic_length = int.from_bytes(body[:2], "big")
            writer.write(packet(0x40, body[2 + topic_length : 4 + topic_length]))

    async def send() -> None:
        reader, writer = backend
        payload = b'{"conv":"dm:alice:bob","seq":1,"from":"bob","ts":1,"text":"hi"}'
        sent = acked = 0
        users_list = list(clients)
        while acked < total:
            while sent < total and sent - acked < window:
                user = users_list[sent % len(users_list)]
                sent += 1
                topic = f"chat/u/{user}/in/msg"
                writer.write(publish_packet(topic, payload, 1, sent % 65535 + 1))
            await read_packet(reader)
            acked += 1

    started = time.monotonic()
    await asyncio.gather(send(), *(receive(c) for c in clients.values()))
    return total / (time.monotonic() - started)


def measure_throughput(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        users = tokens(*(f"user{n}" for n in range(args.users)))
        make_data_dir(data_dir, users)
        with BrokerProcess(data_dir, stock=args.stock, loop=args.loop) as broker:
            port = broker.port
            total = args.users * args.per_user
            for name, scenario in (("fan-in", fan_in), ("fan-out", fan_out)):
                rates, costs = [], []
                for _ in range(args.rounds):
                    accounts = {**users, BACKEND_USERNAME: backend_password(data_dir)}
                    cpu = broker.cpu_seconds()
                    rates.append(asyncio.run(scenario(port, accounts, args.per_user, 20)))
                    costs.append((broker.cpu_seconds() - cpu) / total * 1e6)
                print(
                    f"{'stock' if args.stock else 'patched'} {args.loop} {name}: "
                    + ", ".join(f"{rate:.0f}" for rate in rates)
                    + " msg/s; broker CPU per message: "
                    + ", ".join(f"{cost:.0f}" for cost in costs)
                    + " us"
                )


def add_commands(commands: Any) -> None:
    """Add `refused` and `throughput` to the bench's subcommands."""
    refused_command = commands.add_parser("refused", help="memory after refused CONNECTs")
    refused_command.add_argument("--stock", action="store_true")
    refused_command.add_argument("--count", type=int, default=3000)
    refused_command.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    command = commands.add_parser("throughput", help="50 users to the backend and back")
    command.add_argument("--stock", action="store_true")
    command.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    command.add_argument("--users", type=int, default=50)
    command.add_argument("--per-user", type=int, default=200)
    command.add_argument("--rounds", type=int, default=3)


def run(args: argparse.Namespace) -> None:
    if args.command == "refused":
        measure_refused(args)
    else:
        measure_throughput(args)

"""Real brokers for the backend's MQTT client: the embedded one and Mosquitto, per test,
each on asyncio's event loop and on uvloop's.

`broker` is parametrized over both. Each knows two accounts: the backend's and alice's
(embedded: the real ones, with the broker's ACL; Mosquitto: anonymous, with an ACL file
that leaves `chat/#` and `presence/#` open and refuses anything else). `Relay` sits on
the wire between a client and the broker to lose bytes or cut connections on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvloop

from backend.accounts import BACKEND_CLIENT_ID, BACKEND_USERNAME
from backend.mqtt import Session
from tests.broker.support import RunningBroker, broker_settings, make_data_dir, tokens

HOST = "127.0.0.1"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
READY_TIMEOUT_S = 10.0


@dataclass
class Broker:
    """A running broker and how each account logs in to it."""

    kind: str
    port: int
    accounts: dict[str, dict[str, str]]
    refused_filter: str  # a filter alice may not read

    def session(self, who: str, port: int | None = None, **options: Any) -> Session:
        """A `Session` for `who` ("backend" or "alice"), to the broker or to `port`;
        `options` may override the account's client id, username or password too."""
        return Session(HOST, port or self.port, **{**self.accounts[who], **options})


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every test here runs on asyncio's loop and on uvloop's, which the server uses."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session")
def embedded_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("mqtt-client-broker")
    token = tokens("alice", "bob")
    make_data_dir(data_dir, token)
    return data_dir, token


@pytest.fixture(params=["embedded", "mosquitto"])
def broker(
    request: pytest.FixtureRequest,
    embedded_data: tuple[Path, dict[str, str]],
    tmp_path: Path,
) -> Iterator[Broker]:
    if request.param == "embedded":
        yield from _embedded(*embedded_data)
    else:
        yield from _mosquitto(tmp_path)


def _embedded(data_dir: Path, token: dict[str, str]) -> Iterator[Broker]:
    from backend.accounts import backend_password

    running = RunningBroker(broker_settings(data_dir, offline_queue_limit=1000))
    accounts = {
        "backend": {
            "client_id": BACKEND_CLIENT_ID,
            "username": BACKEND_USERNAME,
            "password": backend_password(data_dir),
        },
        "alice": {"client_id": "alice", "username": "alice", "password": token["alice"]},
    }
    try:
        yield Broker("embedded", running.port, accounts, "chat/u/bob/in/#")
    finally:
        running.stop()


def _mosquitto(tmp_path: Path) -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed")
    port = _free_port()
    acl = tmp_path / "acl"
    acl.write_text("pattern readwrite chat/#\npattern readwrite presence/#\n")
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        # As root, Mosquitto would become user `mosquitto`, who may not read tmp_path.
        f"user {getpass.getuser()}\nlistener {port} {HOST}\nallow_anonymous true\n"
        f"acl_file {acl}\n"
        "persistence false\nlog_dest stdout\nlog_type error\nlog_type warning\n"
    )
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    accounts = {
        "backend": {"client_id": "backend", "username": "backend", "password": "x"},
        "alice": {"client_id": "alice", "username": "alice", "password": "y"},
    }
    try:
        _wait_listening(port, process)
        yield Broker("mosquitto", port, accounts, "other/#")
    finally:
        process.terminate()
        process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    # Mosquitto announces nothing we could wait on: poll its port, with a deadline.
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError("mosquitto did not listen in time")


class Relay:
    """`async with Relay(broker_port) as relay:` then connect to `relay.port`.

    Bytes pass both ways until `up`/`down` is set False: then they are dropped, as on
    a network that lost them. `hold(direction)` stops them (the sender's kernel keeps
    them) until `release(direction)`. `cut()` resets every relayed connection.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.up = True  # client -> broker
        self.down = True  # broker -> client
        self._flowing = {"up": asyncio.Event(), "down": asyncio.Event()}
        for flowing in self._flowing.values():
            flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        await self._server.wait_closed()

    def hold(self, direction: str) -> None:
        self._flowing[direction].clear()

    def release(self, direction: str) -> None:
        self._flowing[direction].set()

    def cut(self) -> None:
        """Reset every connection through the relay, both ends."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_in: asyncio.StreamReader, client_out: Any) -> None:
        broker_in, broker_out = await asyncio.open_connection(HOST, self.upstream_port)
        self._writers |= {client_out, broker_out}
        for source, sink, direction in (
            (client_in, broker_out, "up"),
            (broker_in, client_out, "down"),
        ):
            pump = asyncio.create_task(self._pump(source, sink, direction))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, direction: str
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65_536):
                await self._flowing[direction].wait()
                if getattr(self, direction):
                    sink.write(data)
                    await sink.drain()
        sink.transport.abort()


@pytest.fixture
async def relay(broker: Broker) -> AsyncIterator[Relay]:
    async with Relay(broker.port) as running:
        yield running

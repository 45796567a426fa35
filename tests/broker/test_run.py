"""EmbeddedBroker in-process, and `python -m broker` as a process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from backend.settings import Settings
from broker.run import BrokerStartError, EmbeddedBroker
from tests.broker.raw import HOST, RawClient, connack
from tests.broker.support import Accounts

START_TIMEOUT_S = 30  # a cold interpreter importing amqtt and pydantic
REPO = Path(__file__).parents[2]


async def test_embedded_broker_serves_on_the_port_it_reports(accounts: Accounts) -> None:
    settings = Settings(data_dir=accounts.data_dir, host=HOST, mqtt_port=0)
    async with EmbeddedBroker(settings) as broker:
        assert broker.port > 0
        assert broker.host == HOST
        # A blocking client would stall the broker's own loop: run it on a thread.
        code = await asyncio.to_thread(
            connack, broker.port, "alice", "alice", accounts.token["alice"]
        )
        assert code == 0
    with pytest.raises(ConnectionRefusedError):
        connack(broker.port, "alice", "alice", accounts.token["alice"])
    await broker.stop()  # a second stop is harmless


async def test_stopping_closes_every_connection(accounts: Accounts) -> None:
    broker = EmbeddedBroker(Settings(data_dir=accounts.data_dir, host=HOST, mqtt_port=0))
    await broker.start()
    clients = []
    for n in range(3):
        client = await asyncio.to_thread(RawClient, broker.port)
        code = await asyncio.to_thread(
            client.connect, f"alice:{n}", "alice", accounts.token["alice"], clean=False
        )
        assert code == 0
        clients.append(client)
    try:
        async with asyncio.timeout(10):
            await broker.stop()
        for client in clients:
            assert await asyncio.to_thread(client.closed_by_broker, 2)
    finally:
        for client in clients:
            client.close()


async def test_embedded_broker_starts_once(accounts: Accounts) -> None:
    broker = EmbeddedBroker(Settings(data_dir=accounts.data_dir, host=HOST, mqtt_port=0))
    with pytest.raises(RuntimeError, match="not started"):
        _ = broker.port
    await broker.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            await broker.start()
    finally:
        await broker.stop()


def broker_command(accounts: Accounts) -> list[str]:
    data_dir = str(accounts.data_dir)
    return [sys.executable, "-m", "broker", "--data-dir", data_dir, "--host", HOST, "--port", "0"]


def ready_port(child: subprocess.Popen[str]) -> int:
    assert child.stdout is not None
    word, port = child.stdout.readline().split()
    assert word == "ready"
    return int(port)


@pytest.fixture(params=["asyncio", "uvloop"])
def process(accounts: Accounts, request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    """`python -m broker --port 0`, its stdin a pipe that the test holds."""
    child = subprocess.Popen(
        [*broker_command(accounts), "--loop", request.param],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    yield child
    if child.poll() is None:
        child.kill()
        child.wait()
    for stream in (child.stdin, child.stdout, child.stderr):
        if stream is not None:
            stream.close()


def test_the_process_says_ready_and_serves(
    process: subprocess.Popen[str], accounts: Accounts
) -> None:
    port = ready_port(process)
    assert connack(port, "alice", "alice", accounts.token["alice"]) == 0
    process.send_signal(signal.SIGTERM)
    assert process.wait(START_TIMEOUT_S) == 0
    assert process.stdout is not None
    assert process.stdout.read() == ""  # "ready <port>" was the only line


def test_the_process_exits_when_its_stdin_closes(process: subprocess.Popen[str]) -> None:
    ready_port(process)
    assert process.stdin is not None
    process.stdin.close()  # what the kernel does when the parent dies, even by SIGKILL
    assert process.wait(START_TIMEOUT_S) == 0


def test_the_process_exits_on_sigint(process: subprocess.Popen[str]) -> None:
    ready_port(process)
    process.send_signal(signal.SIGINT)
    assert process.wait(START_TIMEOUT_S) == 0


PARENT = """
import subprocess, sys, time
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE)  # its stdout is ours
print("parent", child.pid, flush=True)
time.sleep(600)
"""


def eof_within(stream: IO[str], seconds: float) -> bool:
    """True when `stream` reaches EOF within `seconds` (what is read on the way is dropped)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([stream], [], [], left)
        if readable and not os.read(stream.fileno(), 4096):
            return True
    return False


def test_the_process_exits_when_its_parent_is_killed(accounts: Accounts) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, *broker_command(accounts)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert parent.stdout is not None
    lines = dict(parent.stdout.readline().split() for _ in range(2))
    broker_pid = int(lines["parent"])
    try:
        assert "ready" in lines
        parent.kill()  # SIGKILL: no chance to stop the broker
        parent.wait()
        # The pipe ends when its last writer, the orphaned broker, has exited.
        assert eof_within(parent.stdout, START_TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(broker_pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()


def test_the_process_fails_plainly_when_the_port_is_taken(accounts: Accounts) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [*broker_command(accounts)[:-1], str(port)]
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=REPO, timeout=30
        )
    assert result.returncode == 1
    assert result.stdout == ""  # no "ready"
    assert "cannot start" in result.stderr


async def test_embedded_broker_reports_a_failed_start(accounts: Accounts) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        settings = Settings(data_dir=accounts.data_dir, host=HOST, mqtt_port=taken.getsockname()[1])
        with pytest.raises(BrokerStartError, match="address already in use"):
            await EmbeddedBroker(settings).start()

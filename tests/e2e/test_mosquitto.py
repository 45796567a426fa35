"""Mosquitto under the server: what only a supervised external broker can get wrong."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from backend.accounts import new_token
from backend.mosquitto_config import build_plugin
from backend.topics import ClientTopic, InboxTopic
from tests.support.mqtt import connect
from tests.support.server import ServerProcess, free_port

DEADLINE_S = 15
T = TypeVar("T")


def mosquitto_pid(data_dir: Path) -> int | None:
    """The pid of the Mosquitto running with this data dir's configuration, if any."""
    config = str(data_dir / "mosquitto" / "mosquitto.conf")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"mosquitto") and config.encode() in argv:
            return int(entry.name)
    return None


async def until(condition_met: Callable[[], bool], what: str) -> None:
    """Poll `condition_met()` (no event exists for a process ending) until a deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition_met():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {DEADLINE_S}s")
        await asyncio.sleep(0.05)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", broker="mosquitto")
    process.start()
    yield process
    process.kill()


async def test_a_killed_mosquitto_is_restarted_and_nothing_acked_is_lost(
    server: ServerProcess,
) -> None:
    tokens = server.add_users(["alice", "bob"])
    async with connect(server.mqtt_port, "alice", tokens["alice"]) as alice:
        ack = await alice.send({"id": "before", "to": "bob", "text": "before the crash"})
    old_pid = mosquitto_pid(server.data_dir)
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    await until(lambda: mosquitto_pid(server.data_dir) not in (None, old_pid), "a restart")

    # Back on the same port; the message is there for bob, and new sends are acked.
    async def reconnect_and_sync() -> list[dict[str, object]]:
        async with connect(server.mqtt_port, "bob", tokens["bob"]) as bob:
            await bob.publish(ClientTopic.SYNC, {"id": "after-restart"})
            return [await bob.expect(InboxTopic.MSG)]

    received = await _retrying(reconnect_and_sync)
    assert received[0]["seq"] == ack["seq"] and received[0]["text"] == "before the crash"
    async with connect(server.mqtt_port, "alice", tokens["alice"]) as alice:
        after = await alice.send({"id": "after", "to": "bob", "text": "after"})
    assert after["seq"] == ack["seq"] + 1


async def test_presence_is_republished_offline_after_mosquitto_restarts(
    server: ServerProcess,
) -> None:
    tokens = server.add_users(["carol", "dave"])
    async with connect(server.mqtt_port, "carol", tokens["carol"]) as carol:
        await carol.send({"id": "hi", "to": "dave", "text": "hi"})
        old_pid = mosquitto_pid(server.data_dir)
        assert old_pid is not None
        # carol is online; then the broker dies with her connection, and no will is sent.
        os.kill(old_pid, signal.SIGKILL)
        await until(lambda: mosquitto_pid(server.data_dir) not in (None, old_pid), "a restart")

    async def watch_carol() -> list[dict[str, object]]:
        async with connect(server.mqtt_port, "dave", tokens["dave"]) as dave:
            await dave.client.subscribe("presence/carol", qos=1)
            while True:
                topic, payload, _ = await asyncio.wait_for(dave.other.get(), DEADLINE_S)
                if topic == "presence/carol":
                    return [json.loads(payload)]

    # The retained state may briefly still be the one saved before the crash; the
    # backend republishes everyone's as soon as it is back, so offline comes.
    deadline = time.monotonic() + DEADLINE_S
    while True:
        (state,) = await _retrying(watch_carol)
        if state["state"] == "offline":
            break
        assert time.monotonic() < deadline, "carol stayed online after the broker restarted"


async def test_mosquitto_dies_with_a_server_killed_alone(server: ServerProcess) -> None:
    pid = mosquitto_pid(server.data_dir)
    assert pid is not None and server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)  # the server only, not its group
    server.process.wait(10)
    server.kill()  # it is gone already: this closes our end of its pipe
    await until(lambda: mosquitto_pid(server.data_dir) is None, "mosquitto's exit")
    # And a new server starts on the same ports: nothing was left holding them.
    server.start()


async def _retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt` until the restarted broker accepts us (it may take a moment)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            return await attempt()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_an_external_mosquitto_set_up_as_deploy_md_says(tmp_path: Path) -> None:
    """`--broker mqtt://...`: a Mosquitto the operator runs, with mqchat's plugin."""
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir)
    tokens = {user: server.add_user(user) for user in ("erin", "frank")}  # creates the store
    password_file = tmp_path / "backend.password"
    password_file.write_text(new_token() + "\n")
    port = free_port()
    mosquitto_conf = tmp_path / "mosquitto.conf"
    mosquitto_conf.write_text(
        "\n".join(
            [
                "per_listener_settings false",
                "allow_anonymous false",
                f"user {pwd.getpwuid(os.geteuid()).pw_name}",
                f"listener {port} 127.0.0.1",
                "max_queued_messages 10000",
                f"plugin {build_plugin(tmp_path / 'plugin')}",
                f"plugin_opt_database {data_dir / 'mqchat.db'}",
                "plugin_opt_backend_username _mqchat",
                f"plugin_opt_backend_password_file {password_file}",
                "",
            ]
        )
    )
    mqchat_conf = tmp_path / "mqchat.toml"
    mqchat_conf.write_text(
        f'broker_username = "_mqchat"\nbroker_password = "{password_file.read_text().strip()}"\n'
    )
    mosquitto = subprocess.Popen(
        ["mosquitto", "-c", str(mosquitto_conf)], stderr=subprocess.DEVNULL
    )
    try:
        server.broker = f"mqtt://127.0.0.1:{port}"
        server.extra_args = ["--config", str(mqchat_conf)]
        server.start()
        async with connect(port, "frank", tokens["frank"]) as frank:
            async with connect(port, "erin", tokens["erin"]) as erin:
                ack = await erin.send({"id": "e1", "to": "frank", "text": "via your broker"})
            message = await frank.expect(InboxTopic.MSG)
        assert (message["seq"], message["text"]) == (ack["seq"], "via your broker")
        assert server.stop() == 0
    finally:
        server.kill()
        mosquitto.terminate()
        mosquitto.wait(10)

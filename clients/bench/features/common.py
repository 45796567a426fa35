"""What every scenario needs: a killable server on fixed ports, users, MQTT peers, HTTP.

Peers behave as the contract asks of every client (section 2), whatever the broker:
an `offline` will, `online` once subscribed, `offline` before a clean disconnect. The
embedded broker tells the backend about connections by itself; on Mosquitto those
messages are the only presence there is.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0

Handler = Callable[["Peer", str, dict[str, Any], bool], None]
ONLINE = json.dumps({"state": "online"})
OFFLINE = json.dumps({"state": "offline"})
BROKER_ARGS = {"embedded": [], "mosquitto": ["--broker", "mosquitto"]}


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "backend", *args]


@dataclass
class FeatureServer:
    """`mqchat serve` in its own process group, restartable on the same ports."""

    data_dir: Path
    mqtt_port: int = 0
    http_port: int = 0
    process: subprocess.Popen[str] | None = None
    serve_args: list[str] = field(default_factory=list)
    """More `mqchat serve` arguments (e.g. `--broker mosquitto`)."""
    rate_limits: bool = False
    """The per-user rate limits are for people; a bench user sends as fast as it can."""
    _users: int = 0

    @classmethod
    def for_broker(cls, data_dir: Path, broker: str) -> FeatureServer:
        """A server running `broker` ("embedded" or "mosquitto")."""
        return cls(data_dir, serve_args=list(BROKER_ARGS[broker]))

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def start(self) -> float:
        """Start (on new free ports the first time); returns the ready line's monotonic time."""
        if self.mqtt_port == 0:
            self.mqtt_port, self.http_port = free_port(), free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir.parent / "server.log").open("a")
        args = ["serve", "--host", HOST, "--mqtt-port", str(self.mqtt_port), *self.serve_args]
        self.process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
            [*_cli(*args, "--http-port", str(self.http_port)), "--data-dir", str(self.data_dir)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "MQCHAT_RATE_LIMITS": str(self.rate_limits).lower()},
            start_new_session=True,
        )
        log.close()
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the server prints it or exits
        if not line.startswith("mqchat ready"):
            self.kill()
            raise RuntimeError(f"mqchat serve did not start: {line!r}")
        return time.monotonic()

    def kill(self) -> None:
        """SIGKILL the whole process group (server and broker), as a crash would."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM, the clean shutdown; SIGKILL if it hangs."""
        try:
            self._end(signal.SIGTERM)
        except subprocess.TimeoutExpired:
            self.kill()

    def _end(self, sig: signal.Signals) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            process.wait(STOP_TIMEOUT_S)
        if process.stdout is not None:
            process.stdout.close()

    def add_users(self, count: int, label: str) -> dict[str, str]:
        """`count` new users via `mqchat user import`; id -> token."""
        rows = []
        for index in range(count):
            self._users += 1
            rows.append(f"{label}{index},+1{500_000_000 + self._users},{label} {index}\n")
        path = self.data_dir.parent / f"users-{label}.csv"
        path.write_text("id,phone,name\n" + "".join(rows))
        result = subprocess.run(  # noqa: S603 (our interpreter, our arguments)
            [*_cli("user", "import", str(path)), "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return {user: token for user, token in csv.reader(io.StringIO(result.stdout))}

    async def create_group(self, token: str, name: str, members: list[str]) -> str:
        """A new group of the token's user and `members`; its conv id."""
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=self.http_url, headers=headers) as http:
            response = await http.post("/v1/groups", json={"name": name, "members": members})
        if response.status_code != 201:
            raise RuntimeError(f"group creation failed: {response.status_code} {response.text}")
        return str(response.json()["conv"])


def presence_will(user: str) -> aiomqtt.Will:
    """The will every client sets: `offline` on its own presence topic."""
    return aiomqtt.Will(f"chat/u/{user}/presence", OFFLINE, qos=1)


class Peer:
    """One aiomqtt connection of a user; every JSON message goes to `handler`."""

    def __init__(self, port: int, user: str, token: str, handler: Handler) -> None:
        self.user, self.handler = user, handler
        self.client = aiomqtt.Client(
            HOST,
            port,
            username=user,
            password=token,
            identifier=user,
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=True,
            will=presence_will(user),
            timeout=30,
        )
        self._pump: asyncio.Task[None] | None = None

    async def open(self, topics: list[str] | None = None) -> Peer:
        """Connect, subscribe to the inbox (and `topics`) at QoS 1, announce being
        online, start pumping."""
        await self.client.__aenter__()
        await self.client.subscribe(f"chat/u/{self.user}/in/#", qos=1)
        for start in range(0, len(topics or []), 100):
            chunk = (topics or [])[start : start + 100]
            await self.client.subscribe([(topic, 1) for topic in chunk])
        await self.publish("presence", ONLINE)
        self._pump = asyncio.create_task(self._run())
        return self

    async def close(self) -> None:
        """Announce being offline, stop pumping and disconnect cleanly (no will)."""
        with contextlib.suppress(aiomqtt.MqttError, OSError):
            await self.publish("presence", OFFLINE)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._pump
        with contextlib.suppress(aiomqtt.MqttError, OSError):
            await self.client.__aexit__(None, None, None)

    async def publish(self, kind: str, payload: dict[str, Any] | str) -> None:
        """Publish `payload` (JSON, or a dict to encode) to `chat/u/<me>/<kind>` at QoS 1."""
        body = payload if isinstance(payload, str) else json.dumps(payload)
        await self.client.publish(f"chat/u/{self.user}/{kind}", body, qos=1)

    async def _run(self) -> None:
        async for message in self.client.messages:
            body = message.payload if isinstance(message.payload, bytes) else b"{}"
            self.handler(self, message.topic.value, json.loads(body), message.retain)


async def open_all(peers: list[Peer], parallel: int = 50) -> None:
    """Connect every peer, at most `parallel` at a time."""
    gate = asyncio.Semaphore(parallel)

    async def one(peer: Peer) -> None:
        async with gate:
            await peer.open()

    await asyncio.gather(*(one(peer) for peer in peers))


async def close_all(peers: list[Peer]) -> None:
    """Disconnect every peer."""
    await asyncio.gather(*(peer.close() for peer in peers))


async def wait_until(condition: Callable[[], bool], limit_s: float, step: float = 0.005) -> bool:
    """Poll `condition` until it holds or `limit_s` seconds pass; whether it held."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True

"""Test support: a real broker on a thread of its own, paho clients, raw MQTT bytes.

The broker runs in its own event loop thread so that tests can block on paho's
events (threading.Event, queue.Queue, each with a timeout) as any client would.
With AMQTT_STOCK=1 in the environment, the same tests run against amqtt's own
`Broker` (with mqchat's plugins): each `test_fault_*` then fails, showing the fault.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from amqtt.broker import Broker
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from backend.accounts import hash_token, new_token
from backend.ids import dm_conv
from backend.settings import Settings
from backend.store.base import NewUser, SendCommand
from backend.store.sqlite import SqliteStore
from broker import acl
from broker.config import BrokerLimits, amqtt_config
from broker.patches import PatchedBroker
from broker.run import EmbeddedBroker
from tests.broker.raw import HOST, WAIT_S

STOCK = os.environ.get("AMQTT_STOCK") == "1"


@dataclass(frozen=True)
class Accounts:
    """alice and bob share a conversation; eve shares none with anyone."""

    data_dir: Path
    token: dict[str, str]
    backend_password: str


def broker_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Test settings: port 0, short timeouts, a small offline queue."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "host": HOST,
        "mqtt_port": 0,
        "connect_timeout_s": 0.5,
        "offline_queue_limit": 5,
        **overrides,
    }
    return Settings(**values)


def make_data_dir(
    data_dir: Path, users: Mapping[str, str], dms: Iterable[tuple[str, str]] = ()
) -> None:
    """A data dir whose database holds `users` (id -> token) and 1:1 conversations `dms`."""
    add_users(data_dir, users)
    db_path = Settings(data_dir=data_dir).db_path

    async def converse() -> None:
        store = await SqliteStore.open(db_path, durability="normal")
        try:
            for sender, other in dms:
                command = SendCommand(
                    sender=sender,
                    client_id=f"hello-{other}",
                    conv=dm_conv(sender, other),
                    kind="text",
                    text="hello",
                    media_id=None,
                    ts=int(time.time() * 1000),
                )
                await store.send(command)
        finally:
            await store.close()

    asyncio.run(converse())


def add_users(data_dir: Path, users: Mapping[str, str]) -> None:
    """Add users (id -> token) to the data dir's database, creating it if needed."""
    db_path = Settings(data_dir=data_dir).db_path

    async def add() -> None:
        store = await SqliteStore.open(db_path, durability="normal")
        try:
            new = [
                NewUser(user, _phone(user), user, hash_token(token))
                for user, token in users.items()
            ]
            await store.add_users(new, int(time.time() * 1000))
        finally:
            await store.close()

    asyncio.run(add())


def _phone(user: str) -> str:
    return f"+1555{int(hashlib.sha256(user.encode()).hexdigest(), 16) % 10**8:08d}"


def tokens(*users: str) -> dict[str, str]:
    return {user: new_token() for user in users}


class RunningBroker:
    """The broker (patched, or stock amqtt when AMQTT_STOCK=1) on an event loop thread."""

    def __init__(
        self, settings: Settings, *, plugins: dict[str, Any] | None = None, stock: bool = STOCK
    ) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="broker", daemon=True)
        self._thread.start()
        self._embedded: EmbeddedBroker | None = None
        self.amqtt: Any = self.run(self._start(plugins, stock))
        self.port: int = self.amqtt._servers["default"].instance.sockets[0].getsockname()[1]

    async def _start(self, plugins: dict[str, Any] | None, stock: bool) -> Any:
        config = amqtt_config(self.settings)
        if plugins is not None:
            config["plugins"] = plugins
        if stock:
            broker = Broker(config)
        elif plugins is None:
            # The production path: exactly what the server runs.
            self._embedded = EmbeddedBroker(self.settings)
            await self._embedded.start()
            return self._embedded._broker
        else:
            limits = BrokerLimits.from_settings(self.settings)
            broker = PatchedBroker(config, limits=limits, may_retain=acl.may_retain)
        await broker.start()
        return broker

    def run(self, coroutine: Any, timeout: float = WAIT_S) -> Any:
        """Run `coroutine` on the broker's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Callable[[Any], Any]) -> Any:
        """`function(amqtt_broker)`, run on the broker's loop (no races with it)."""

        async def call() -> Any:
            return function(self.amqtt)

        return self.run(call())

    def wait_until(self, condition: Callable[[Any], bool], timeout: float = WAIT_S) -> bool:
        """Poll `condition(amqtt_broker)` until true, for state no event announces."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call(condition):
                return True
            time.sleep(0.01)
        return False

    def went_offline(self, client_id: str) -> bool:
        """Wait until the broker has seen the client go (no event tells the test that)."""
        return self.wait_until(
            lambda amqtt: (
                client_id in amqtt.sessions
                and amqtt.sessions[client_id][0].transitions.state == "disconnected"
            )
        )

    def stop(self) -> None:
        try:
            if self._embedded is not None:
                self.run(self._embedded.stop(), timeout=15)
            else:
                self.run(self.amqtt.shutdown(), timeout=15)
        finally:
            self.run(_cancel_other_tasks(), timeout=15)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(WAIT_S)
            self.loop.close()


async def _cancel_other_tasks() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Peer:
    """A paho-mqtt 2.2 client (VERSION2 callbacks, MQTT 3.1.1) whose events can be awaited."""

    def __init__(
        self,
        port: int,
        username: str | None,
        password: str | None = None,
        *,
        client_id: str | None = None,
        clean_session: bool = True,
        keepalive: int = 60,
        will: tuple[str, bytes, int] | None = None,
        manual_ack: bool = False,
    ) -> None:
        self.port = port
        self.keepalive = keepalive
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id if client_id is not None else (username or ""),
            clean_session=clean_session,
            protocol=MQTTProtocolVersion.MQTTv311,
            reconnect_on_failure=False,
            manual_ack=manual_ack,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if will is not None:
            self.client.will_set(will[0], will[1], will[2])
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.closed = threading.Event()
        self._connack: queue.Queue[tuple[int, bool]] = queue.Queue()
        self._lock = threading.Lock()
        self._subacks: dict[int, queue.Queue[list[int]]] = defaultdict(queue.Queue)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_subscribe
        self.client.on_disconnect = lambda *args: self.closed.set()

    def connect(self) -> tuple[int, bool]:
        """Connect; the CONNACK's (code, session present). Code 0 is success."""
        self.client.connect(HOST, self.port, self.keepalive)
        self.client.loop_start()
        try:
            return self._connack.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError("no CONNACK") from None

    def connected(self) -> Peer:
        code, _ = self.connect()
        assert code == 0, f"CONNECT refused with {code}"
        return self

    def subscribe(self, topic_filter: str, qos: int = 1) -> int:
        """Subscribe; the SUBACK's return code (the granted QoS, or 0x80)."""
        with self._lock:
            _, mid = self.client.subscribe(topic_filter, qos)
            acks = self._subacks[mid]
        try:
            return acks.get(timeout=WAIT_S)[0]
        except queue.Empty:
            raise AssertionError(f"no SUBACK for {topic_filter!r}") from None

    def unsubscribe(self, topic_filter: str) -> None:
        """Unsubscribe, and wait for the UNSUBACK."""
        with self._lock:
            _, mid = self.client.unsubscribe(topic_filter)
            acks = self._subacks[mid]
        try:
            acks.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"no UNSUBACK for {topic_filter!r}") from None

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish; for QoS 1, wait for the PUBACK."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(WAIT_S)
            assert info.is_published(), f"no PUBACK for {topic!r}"

    def expect(self, timeout: float = WAIT_S) -> mqtt.MQTTMessage:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message arrived") from None

    def no_message(self) -> bool:
        return self.messages.empty()

    def drop(self) -> None:
        """Close the socket without DISCONNECT, as a dying phone would."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        if self.client.is_connected():
            self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connack.put((0 if not reason.is_failure else reason.value, flags.session_present))

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        with self._lock:
            self._subacks[mid].put([code.value for code in codes])

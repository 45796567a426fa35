"""paho-mqtt clients driven by one asyncio loop: no thread and no task per client.

The load generator must not be the bottleneck it measures, so incoming packets are
handled straight in paho's callbacks (no queue, no task per message) and every client
shares the one event loop. paho writes a packet at once when asked outside a callback;
packets queued inside a callback are flushed right after the read that caused them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

HOST = "127.0.0.1"
KEEPALIVE_S = 60
MISC_INTERVAL_S = 2.0  # paho's keep-alive bookkeeping; the keep-alive itself is 60 s
# The bench bounds its own in-flight sends; paho's default of 20 would throttle a window.
MAX_INFLIGHT = 65_535

MessageHandler = Callable[[str, bytes | bytearray], None]
"""`handler(topic, payload)`, called on the loop for every PUBLISH received."""
PublishedHandler = Callable[[int], None]
"""`handler(mid)`, called when the broker has acknowledged one of our QoS 1 publishes."""


class BenchClient(Protocol):
    """What a phase needs of an MQTT client; `mqtt.LoopClient` and `rawmqtt.RawClient`."""

    lost: str | None

    async def connect(self, port: int) -> None: ...

    async def subscribe(self, topic_filter: str) -> None: ...

    def publish(self, topic: str, payload: bytes) -> object: ...

    def close(self) -> None: ...


class MqttFailure(Exception):
    """A refused connection or subscription, or a connection lost mid-phase."""


class LoopClient:
    """One MQTT 3.1.1 connection as `username`, driven by the running loop."""

    def __init__(
        self,
        client_id: str,
        username: str,
        password: str,
        on_message: MessageHandler,
        on_published: PublishedHandler | None = None,
        *,
        clean_session: bool = False,
    ) -> None:
        self.client_id = client_id
        self.lost: str | None = None
        self._loop = asyncio.get_running_loop()
        self._connected: asyncio.Future[None] = self._loop.create_future()
        self._subscribed: dict[int, asyncio.Future[None]] = {}
        self._writer: socket.socket | None = None
        self._misc_timer: asyncio.TimerHandle | None = None
        self._closing = False
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
        )
        client.username_pw_set(username, password)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(0)
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = lambda _c, _u, message: on_message(message.topic, message.payload)
        if on_published is not None:
            client.on_publish = lambda _c, _u, mid, _rc, _props: on_published(mid)
        self._paho = client

    async def connect(self, port: int) -> None:
        """Open the TCP connection (loopback only) and wait for a successful CONNACK.

        Unbounded: callers wrap it in `asyncio.timeout`.
        """
        # A blocking connect, on purpose: on loopback it takes microseconds, and paho calls
        # our socket callbacks from inside it, which must run on the loop's thread.
        self._paho.connect(HOST, port, KEEPALIVE_S)
        self._flush()
        await self._connected

    async def subscribe(self, topic_filter: str) -> None:
        """Subscribe at QoS 1 and wait for a SUBACK that grants it (unbounded, as `connect`)."""
        result, mid = self._paho.subscribe(topic_filter, qos=1)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise MqttFailure(f"{self.client_id}: subscribe failed ({result})")
        granted = self._subscribed[mid] = self._loop.create_future()
        self._flush()
        await granted

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> int:
        """Hand a PUBLISH to paho (written at once outside callbacks); its message id."""
        info = self._paho.publish(topic, payload, qos=qos)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MqttFailure(f"{self.client_id}: publish failed ({info.rc})")
        return info.mid

    def close(self) -> None:
        """Send DISCONNECT (best effort) and release the socket."""
        self._closing = True
        if self._misc_timer is not None:
            self._misc_timer.cancel()
        with contextlib.suppress(Exception):
            self._paho.disconnect()
            self._flush()
        sock = self._paho.socket()
        # paho closes its socket again when collected, maybe after the loop is gone.
        self._paho.on_socket_close = None
        if isinstance(sock, socket.socket):
            self._on_socket_close(self._paho, None, sock)
            sock.close()

    def _on_socket_open(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        # paho leaves Nagle on: a PUBLISH written while our previous PUBACK is still
        # unacknowledged would wait for the peer's delayed ACK, up to 40 ms on Linux.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._loop.add_reader(sock, self._on_readable)
        self._misc_timer = self._loop.call_later(MISC_INTERVAL_S, self._misc)

    def _on_socket_close(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        if sock.fileno() < 0:
            return
        self._loop.remove_reader(sock)
        if self._writer is not None:
            self._loop.remove_writer(self._writer)
            self._writer = None

    def _on_readable(self) -> None:
        self._paho.loop_read()
        # Publishes made inside callbacks (the next send of a window) are only queued.
        self._flush()

    def _flush(self) -> None:
        if not self._paho.want_write():
            return
        self._paho.loop_write()
        sock = self._paho.socket()
        if self._paho.want_write() and self._writer is None and isinstance(sock, socket.socket):
            # The socket buffer is full: finish when it drains.
            self._writer = sock
            self._loop.add_writer(sock, self._on_writable)

    def _on_writable(self) -> None:
        self._paho.loop_write()
        if not self._paho.want_write() and self._writer is not None:
            self._loop.remove_writer(self._writer)
            self._writer = None

    def _misc(self) -> None:
        self._paho.loop_misc()
        self._flush()
        if not self._closing:
            self._misc_timer = self._loop.call_later(MISC_INTERVAL_S, self._misc)

    def _on_connect(self, _c: paho.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if self._connected.done():
            return
        if reason.is_failure:
            self._connected.set_exception(MqttFailure(f"{self.client_id}: CONNACK {reason}"))
        else:
            self._connected.set_result(None)

    def _on_subscribe(self, _c: paho.Client, _u: Any, mid: int, codes: Any, _props: Any) -> None:
        granted = self._subscribed.pop(mid, None)
        if granted is None or granted.done():
            return
        if any(code.is_failure for code in codes):
            granted.set_exception(MqttFailure(f"{self.client_id}: SUBACK refused"))
        else:
            granted.set_result(None)

    def _on_disconnect(self, _c: paho.Client, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        if self._closing:
            return
        self.lost = f"{self.client_id}: connection lost ({reason})"
        if not self._connected.done():
            self._connected.set_exception(MqttFailure(self.lost))

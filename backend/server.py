"""`mqchat serve`: the store, the embedded broker, the backend's MQTT session and HTTP.

Start order matters: the store first (it creates the database the broker authenticates
against), then the broker, then the backend's session, then HTTP. Shutdown runs the
other way round on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import uvicorn

from backend.accounts import (
    BACKEND_CLIENT_ID,
    BACKEND_USERNAME,
    backend_password,
    backend_secret_path,
)
from backend.broker_process import BrokerProcess
from backend.gateway import BrokerAddress, Gateway, SessionHook
from backend.group_service import GroupService
from backend.http.app import create_app
from backend.limits import UserLimits
from backend.media.cleanup import run_cleanup
from backend.media.service import MediaLimits, MediaService
from backend.media.storage import MediaStorage
from backend.mosquitto_process import MosquittoProcess
from backend.presence_service import HEARTBEAT_S, PresenceService
from backend.service import ChatService, Outgoing
from backend.settings import Settings
from backend.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

GATEWAY_CONNECT_TIMEOUT_S = 30


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a running server listens; printed as the `mqchat ready` line."""

    mqtt_host: str
    mqtt_port: int
    http_host: str
    http_port: int

    def ready_line(self) -> str:
        return (
            f"mqchat ready mqtt={self.mqtt_host}:{self.mqtt_port} "
            f"http={self.http_host}:{self.http_port}"
        )


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: `run_server` owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


async def run_server(settings: Settings, on_ready: Callable[[Endpoints], None]) -> None:
    """Run until SIGTERM/SIGINT (or cancellation), then shut everything down."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await SqliteStore.open(settings.db_path, settings.durability)
    try:
        async with _broker(settings) as running_broker:
            broker = running_broker.address
            service = ChatService(store, limits=UserLimits.from_settings(settings))
            groups = GroupService(store, max_members=settings.max_group_members)
            presence = PresenceService(store, uses_broker_events=settings.embedded_broker)
            await presence.start()
            gateway = Gateway(
                broker, service, presence, on_session=_presence_reset(running_broker, presence)
            )
            media = await _media_service(settings, store)
            app = create_app(service, groups, gateway.publish, media)
            http_socket = _bind(settings.host, settings.http_port)
            http = _HttpServer(uvicorn.Config(app, log_level="warning", lifespan="off"))
            background = {
                "gateway": gateway.run(),
                "media-cleanup": run_cleanup(
                    store,
                    media.storage,
                    settings.unused_media_ttl_s,
                    settings.media_cleanup_interval_s,
                ),
                "presence-heartbeat": _every(HEARTBEAT_S, presence.heartbeat),
                # Restarts a broker child that died; raises (ending the server) when it
                # keeps dying.
                "broker-supervisor": running_broker.supervise(stop),
            }
            async with asyncio.TaskGroup() as tasks:
                running = [tasks.create_task(job, name=name) for name, job in background.items()]
                await asyncio.wait_for(gateway.connected.wait(), GATEWAY_CONNECT_TIMEOUT_S)
                http_task = tasks.create_task(http.serve(sockets=[http_socket]), name="http")
                while not http.started:  # uvicorn offers no event for this
                    await asyncio.sleep(0.01)
                    if http_task.done():
                        break
                host, port = http_socket.getsockname()[:2]
                on_ready(Endpoints(broker.host, broker.port, host, port))
                await stop.wait()
                log.info("shutting down")
                http.should_exit = True
                for task in running:
                    task.cancel()
    finally:
        await store.close()


async def _every(interval_s: float, job: Callable[[], Awaitable[None]]) -> None:
    """Run `job` every `interval_s` until cancelled; a failure is logged, not fatal."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await job()
        except Exception:
            log.exception("periodic job %s failed", getattr(job, "__qualname__", job))


async def _media_service(settings: Settings, store: SqliteStore) -> MediaService:
    storage = MediaStorage(settings.media_dir)
    await asyncio.to_thread(storage.prepare)
    limits = MediaLimits(
        image_bytes=settings.max_image_bytes,
        voice_bytes=settings.max_voice_bytes,
        image_pixels=settings.max_image_pixels,
    )
    return MediaService(store, storage, limits)


@dataclass(frozen=True, slots=True)
class _Broker:
    """The broker the backend talks to, and the job that keeps it running."""

    address: BrokerAddress
    supervise: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
    # Mosquitto under the server: which start of it this is. It reports no connections,
    # so each new start means every connection it had is gone (see `_presence_reset`).
    generation: Callable[[], int] | None = None


@contextlib.asynccontextmanager
async def _broker(settings: Settings) -> AsyncIterator[_Broker]:
    """The embedded broker or Mosquitto (started, supervised and stopped here), or the
    external broker configured."""
    if settings.broker == "mosquitto":
        password = backend_password(settings.data_dir)  # written before Mosquitto reads it
        secret = backend_secret_path(settings.data_dir)
        async with MosquittoProcess.started(settings, secret) as mosquitto:
            address = BrokerAddress(
                mosquitto.host, mosquitto.port, BACKEND_USERNAME, password, BACKEND_CLIENT_ID
            )
            yield _Broker(address, mosquitto.supervise, lambda: mosquitto.generation)
        return
    if not settings.embedded_broker:
        url = urlsplit(settings.broker)
        if url.scheme != "mqtt" or not url.hostname:
            raise ValueError(
                "broker must be 'embedded', 'mosquitto' or mqtt://host:port, "
                f"not {settings.broker!r}"
            )
        if not (settings.broker_username and settings.broker_password):
            raise ValueError("an external broker needs broker_username and broker_password")
        address = BrokerAddress(
            url.hostname,
            url.port or 1883,
            settings.broker_username,
            settings.broker_password,
            BACKEND_CLIENT_ID,
        )
        yield _Broker(address, _nothing_to_supervise)
        return
    password = backend_password(settings.data_dir)
    async with BrokerProcess.started(settings) as broker:
        address = BrokerAddress(
            settings.host, broker.port, BACKEND_USERNAME, password, BACKEND_CLIENT_ID
        )
        yield _Broker(address, broker.supervise)


async def _nothing_to_supervise(stopping: asyncio.Event) -> None:
    """The supervisor of a broker someone else runs."""


def _presence_reset(broker: _Broker, presence: PresenceService) -> SessionHook | None:
    """For Mosquitto under the server: on the first backend session with each new start
    of it, everyone is offline until they report again (`broker_restarted`)."""
    generation = broker.generation
    if generation is None:
        return None
    seen: set[int] = set()

    async def on_session() -> list[Outgoing]:
        current = generation()
        if current in seen:
            return []
        seen.add(current)
        return await presence.broker_restarted()

    return on_session


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock

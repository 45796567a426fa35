"""Mosquitto started and supervised by the server (`--broker mosquitto`).

The server writes the configuration and builds the plugin into `<data dir>/mosquitto/`,
then runs `mosquitto` as its child with the parent-death signal set (`setpriv
--pdeathsig`), so that a server killed with -9 takes its broker along, as the embedded
broker's child does. A broker that dies is restarted on the same port with the backoff
and the bound of `backend.core.restarts`, like the embedded one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from backend.accounts import BACKEND_USERNAME
from backend.core.restarts import RestartPolicy
from backend.mosquitto_config import MosquittoConfig, build_plugin, mosquitto_binary
from backend.settings import Settings
from backend.supervision import Restarter, stop_child

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 10
RESTART_POLICY = RestartPolicy()


class MosquittoFailed(RuntimeError):
    """Mosquitto would not start, or keeps dying."""


class MosquittoProcess:
    """A running Mosquitto child: where it listens, and how to keep it running."""

    def __init__(self, config: MosquittoConfig, config_path: Path) -> None:
        self.config = config
        self.config_path = config_path
        self.process: asyncio.subprocess.Process | None = None
        self._restarter = Restarter("mosquitto", MosquittoFailed)
        # Counts starts; moved before each start, so a session opened with the new
        # Mosquitto never sees the old number.
        self.generation = 0
        self._stopping = False

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self.config.port

    @classmethod
    @contextlib.asynccontextmanager
    async def started(
        cls, settings: Settings, backend_secret: Path
    ) -> AsyncIterator[MosquittoProcess]:
        """Write the configuration, start Mosquitto, and stop it on exit."""
        config, config_path = await asyncio.to_thread(_prepare, settings, backend_secret)
        broker = cls(config, config_path)
        broker.process = await broker._spawn()
        try:
            yield broker
        finally:
            broker._stopping = True
            if broker.process is not None:
                await stop_child(broker.process, "mosquitto")

    async def supervise(
        self, server_stopping: asyncio.Event, policy: RestartPolicy = RESTART_POLICY
    ) -> None:
        """Restart Mosquitto whenever it dies, until cancelled; raise `MosquittoFailed`
        when it dies too often."""
        while self.process is not None:
            code = await self.process.wait()
            if self._stopping or server_stopping.is_set():
                return
            log.error("mosquitto (pid %d) exited with code %s", self.process.pid, code)
            self.process = await self._restart(policy)

    async def _restart(self, policy: RestartPolicy) -> asyncio.subprocess.Process:
        return await self._restarter.restart(self._spawn, policy, (MosquittoFailed, OSError))

    @property
    def restarts(self) -> int:
        return self._restarter.restarts

    async def _spawn(self) -> asyncio.subprocess.Process:
        self.generation += 1
        command = [mosquitto_binary(), "-c", str(self.config_path)]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            # Dies with the server, whatever kills the server.
            command = [setpriv, "--pdeathsig", "KILL", "--", *command]
        process = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL)
        try:
            await asyncio.wait_for(self._until_listening(process), READY_TIMEOUT_S)
        except BaseException:
            await stop_child(process, "mosquitto")
            raise
        return process

    async def _until_listening(self, process: asyncio.subprocess.Process) -> None:
        """Mosquitto says nothing when ready: wait until its port accepts connections."""
        while True:
            if process.returncode is not None:
                raise MosquittoFailed(
                    f"mosquitto exited with code {process.returncode} at start "
                    f"(its configuration: {self.config_path})"
                )
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return


def _prepare(settings: Settings, backend_secret: Path) -> tuple[MosquittoConfig, Path]:
    """Build the plugin and write `mosquitto.conf` into `<data dir>/mosquitto/`."""
    work_dir = settings.data_dir / "mosquitto"
    work_dir.mkdir(parents=True, exist_ok=True)
    config = MosquittoConfig(
        host=settings.host,
        port=settings.mqtt_port or _free_port(settings.host),
        work_dir=work_dir.resolve(),
        plugin=build_plugin(work_dir).resolve(),
        db_path=settings.db_path.resolve(),
        backend_username=BACKEND_USERNAME,
        backend_password_file=backend_secret.resolve(),
        max_connections=settings.max_connections,
        max_packet_bytes=settings.max_packet_bytes,
        offline_queue_limit=settings.offline_queue_limit,
    )
    config_path = work_dir / "mosquitto.conf"
    config_path.write_text(config.render())
    return config, config_path


def _free_port(host: str) -> int:
    """Mosquitto cannot listen on port 0: ask the kernel for a free port first."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])

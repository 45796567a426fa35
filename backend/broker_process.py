"""Supervision of the embedded broker when it runs in a process of its own.

On two cores the broker and the backend are each CPU-bound Python; in one process
they share one core (see BENCHMARKS.md for the measurement behind the default).
The child learns that the server died, even by kill -9, when its stdin reaches EOF.

The other way round, the server learns that the child died when `wait()` returns,
and starts a new one on the same port (`supervise`), with the backoff and the bound
of `backend.core.restarts`: the backend's MQTT session reconnects by itself, clients
reconnect and sync, and nothing acknowledged is lost (the store holds it). Past the
bound, `supervise` raises `BrokerFailed`, which ends the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator

from backend.core.restarts import RestartPolicy
from backend.settings import Settings
from backend.supervision import Restarter, stop_child

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30
# After a clean exit of the child, how long to wait for the server's own stop signal.
CLEAN_EXIT_GRACE_S = 1.0
RESTART_POLICY = RestartPolicy()


class BrokerFailed(RuntimeError):
    """The broker child keeps dying (or cannot start); restarting it has been given up."""


class BrokerStartError(RuntimeError):
    """The child exited, or said something else than `ready <port>`, instead of starting."""


class BrokerProcess:
    """A running broker: its port, and the child process when it has one."""

    def __init__(
        self, settings: Settings, port: int, process: asyncio.subprocess.Process | None
    ) -> None:
        self._settings = settings
        self.port = port
        self.process = process
        self._restarter = Restarter("the broker", BrokerFailed)
        self._stopping = False

    @classmethod
    @contextlib.asynccontextmanager
    async def started(cls, settings: Settings) -> AsyncIterator[BrokerProcess]:
        """Start the broker (in this process or a child), stop it on exit."""
        if settings.broker_process == "inline":
            from broker.run import EmbeddedBroker

            embedded = EmbeddedBroker(settings)
            await embedded.start()
            try:
                yield cls(settings, embedded.port, None)
            finally:
                await embedded.stop()
            return
        process, port = await _spawn(settings, settings.mqtt_port)
        broker = cls(settings, port, process)
        try:
            yield broker
        finally:
            broker._stopping = True
            if broker.process is not None:
                await _stop(broker.process)

    async def supervise(
        self, server_stopping: asyncio.Event, policy: RestartPolicy = RESTART_POLICY
    ) -> None:
        """Restart the child whenever it dies, until cancelled; raise `BrokerFailed` when
        it dies too often. Returns at once for a broker inside this process."""
        while self.process is not None:
            code = await self.process.wait()
            if code == 0:
                # A clean exit is a SIGTERM or SIGINT, which usually went to the whole
                # process group (Ctrl-C, systemd): ours comes too, so do not restart.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(server_stopping.wait(), CLEAN_EXIT_GRACE_S)
            if self._stopping or server_stopping.is_set():
                return
            log.error("the broker (pid %d) exited with code %s", self.process.pid, code)
            await _stop(self.process)  # only closes its pipe: it is gone
            self.process = await self._restart(policy)

    async def _restart(self, policy: RestartPolicy) -> asyncio.subprocess.Process:
        async def spawn() -> asyncio.subprocess.Process:
            # The same port: clients and the backend come back to where they were.
            process, _ = await _spawn(self._settings, self.port)
            return process

        return await self._restarter.restart(
            spawn, policy, (BrokerStartError, OSError, TimeoutError)
        )

    @property
    def restarts(self) -> int:
        return self._restarter.restarts


async def _spawn(settings: Settings, port: int) -> tuple[asyncio.subprocess.Process, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "broker",
        *broker_arguments(settings, port),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        return process, await asyncio.wait_for(_read_ready(process), READY_TIMEOUT_S)
    except BaseException:
        await _stop(process)
        raise


def broker_arguments(settings: Settings, port: int | None = None) -> list[str]:
    """The broker's settings as its command line: the child reads no config file."""
    return [
        "--data-dir",
        str(settings.data_dir),
        "--host",
        settings.host,
        "--port",
        str(settings.mqtt_port if port is None else port),
        "--max-connections",
        str(settings.max_connections),
        "--connect-timeout",
        str(settings.connect_timeout_s),
        "--max-packet-bytes",
        str(settings.max_packet_bytes),
        "--offline-queue-limit",
        str(settings.offline_queue_limit),
    ]


async def _read_ready(process: asyncio.subprocess.Process) -> int:
    assert process.stdout is not None
    line = (await process.stdout.readline()).decode().strip()
    word, _, port = line.partition(" ")
    if word != "ready" or not port.isdigit():
        code = await process.wait()
        raise BrokerStartError(f"the broker did not start (exit code {code}, said {line!r})")
    return int(port)


async def _stop(process: asyncio.subprocess.Process) -> None:
    await stop_child(process, "the broker")
    if process.stdin is not None:
        # Our end of the pipe whose closing tells the child to stop; it is gone now.
        process.stdin.close()

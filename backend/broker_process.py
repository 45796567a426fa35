"""Supervision of the embedded broker when it runs in a process of its own.

On two cores the broker and the backend are each CPU-bound Python; in one process
they share one core (see BENCHMARKS.md for the measurement behind the default).
The child learns that the server died, even by kill -9, when its stdin reaches EOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from backend.settings import Settings

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10


@dataclass
class BrokerProcess:
    """A running broker: its port, and the child process when it has one."""

    port: int
    process: asyncio.subprocess.Process | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def started(cls, settings: Settings) -> AsyncIterator[BrokerProcess]:
        if settings.broker_process == "inline":
            from broker.run import EmbeddedBroker

            embedded = EmbeddedBroker(settings)
            await embedded.start()
            try:
                yield cls(port=embedded.port)
            finally:
                await embedded.stop()
            return
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "broker",
            *broker_arguments(settings),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            port = await asyncio.wait_for(_read_ready(process), READY_TIMEOUT_S)
            yield cls(port=port, process=process)
        finally:
            await _stop(process)


def broker_arguments(settings: Settings) -> list[str]:
    """The broker's settings as its command line: the child reads no config file."""
    return [
        "--data-dir",
        str(settings.data_dir),
        "--host",
        settings.host,
        "--port",
        str(settings.mqtt_port),
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
        raise RuntimeError(f"the broker did not start (exit code {code}, said {line!r})")
    return int(port)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        log.warning("the broker did not stop in %ss; killing it", STOP_TIMEOUT_S)
        process.kill()
        await process.wait()

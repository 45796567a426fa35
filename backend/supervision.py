"""Restarting a supervised child process that died: the loop both brokers' supervisors
share, with the backoff and the bound of `backend.core.restarts`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from backend.core.restarts import RestartPolicy, recent_deaths, restart_delay

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10


class Restarter:
    """Starts a child again after each death; raises `failed` once it dies too often."""

    def __init__(self, name: str, failed: type[Exception]) -> None:
        self.name = name
        self.failed = failed
        self.restarts = 0
        self._deaths: list[float] = []  # only those inside the policy's window

    async def restart(
        self,
        spawn: Callable[[], Awaitable[asyncio.subprocess.Process]],
        policy: RestartPolicy,
        retryable: tuple[type[Exception], ...],
    ) -> asyncio.subprocess.Process:
        """Record a death, wait the policy's delay and `spawn` again; a start that fails
        with a `retryable` error counts as one more death."""
        while True:
            now = time.monotonic()
            self._deaths = [*recent_deaths(self._deaths, now, policy), now]
            delay = restart_delay(self._deaths, now, policy)
            if delay is None:
                raise self.failed(
                    f"{self.name} died {len(self._deaths)} times, more than "
                    f"{policy.max_restarts} within {policy.window_s:.0f}s: giving up"
                )
            await asyncio.sleep(delay)
            try:
                process = await spawn()
            except retryable as error:
                log.error("restarting %s failed: %s", self.name, error)
                continue
            self.restarts += 1
            log.warning("%s restarted (pid %d, restart %d)", self.name, process.pid, self.restarts)
            return process


async def stop_child(process: asyncio.subprocess.Process, name: str) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `STOP_TIMEOUT_S`."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("%s did not stop in %ss; killing it", name, STOP_TIMEOUT_S)
            process.kill()
            await process.wait()

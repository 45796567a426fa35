"""Processes of a running server seen from outside: children, memory, waiting for an exit.

Linux only (/proc and pidfd), as the fault tests are.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def children(pid: int) -> list[int]:
    """The direct children of `pid` (empty if it is gone)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in (PROC / str(pid) / "task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def broker_child(server_pid: int) -> int:
    """The pid of the server's broker child (the only child `mqchat serve` has)."""
    found = children(server_pid)
    assert len(found) == 1, f"expected one broker child of {server_pid}, found {found}"
    return found[0]


def rss_bytes(pid: int) -> int | None:
    """Resident memory of `pid`, None once it is gone."""
    try:
        fields = (PROC / str(pid) / "statm").read_text().split()
    except OSError:
        return None
    return int(fields[1]) * PAGE_BYTES


def kill(pid: int) -> None:
    """SIGKILL one process (not its group)."""
    os.kill(pid, signal.SIGKILL)


async def wait_exited(pid: int, timeout: float) -> float:
    """Wait until `pid` exits (any process, not only a child); returns the seconds waited.

    A pidfd becomes readable when its process ends: an event, not a poll.
    """
    started = time.monotonic()
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return 0.0
    gone = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(pidfd, gone.set)
    try:
        async with asyncio.timeout(timeout):
            await gone.wait()
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return time.monotonic() - started


@dataclass
class RssSampler:
    """Samples the resident memory of the server and its broker child every `interval_s`.

    `async with RssSampler(server_pid) as rss:` ... then `rss.peak`, `rss.baseline`.
    The broker child is looked up again at every sample (it may have been restarted).
    """

    server_pid: int
    interval_s: float = 0.5
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RssSampler:
        self.sample()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.sample()

    def sample(self) -> None:
        """Take one sample now: (time, server RSS, broker RSS), bytes."""
        server = rss_bytes(self.server_pid) or 0
        brokers = children(self.server_pid)
        broker = sum(rss_bytes(pid) or 0 for pid in brokers)
        self.samples.append((time.monotonic(), server, broker))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.sample()

    @property
    def baseline(self) -> tuple[int, int]:
        """(server, broker) bytes at the first sample."""
        return self.samples[0][1], self.samples[0][2]

    @property
    def peak(self) -> tuple[int, int]:
        """(server, broker) bytes, the highest of every sample."""
        return max(s[1] for s in self.samples), max(s[2] for s in self.samples)

    def growth_mib(self) -> tuple[float, float]:
        """(server, broker) peak over baseline, MiB."""
        (server0, broker0), (server1, broker1) = self.baseline, self.peak
        return (server1 - server0) / 2**20, (broker1 - broker0) / 2**20

    def describe(self) -> Iterator[str]:
        """Lines for a report: baseline, peak, growth."""
        (server0, broker0), (server1, broker1) = self.baseline, self.peak
        yield f"server RSS {server0 / 2**20:.1f} -> peak {server1 / 2**20:.1f} MiB"
        yield f"broker RSS {broker0 / 2**20:.1f} -> peak {broker1 / 2**20:.1f} MiB"

"""The broker under measurement, in a process of its own, and the bench's side of it.

Patched: `python -m broker --port 0`, exactly as the server runs it. Stock:
`python -m tests.broker.bench.stock`, amqtt's own `Broker` with mqchat's config and
plugins and the same `ready <port>` / SIGTERM contract. On two or more cores the broker
is pinned to one and the load generator to another, so that they do not compete.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import psutil

from tests.broker.raw import HOST

REPO = Path(__file__).parents[3]
READY_TIMEOUT_S = 30.0
_ALL_CORES = sorted(os.sched_getaffinity(0))  # before this process pins itself


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _cores() -> tuple[set[int], set[int]]:
    """(broker's cores, load generator's cores)."""
    cores = _ALL_CORES
    if len(cores) < 2:
        return set(cores), set(cores)
    return {cores[-1]}, set(cores[:-1])


class BrokerProcess:
    """`with BrokerProcess(data_dir, stock=...) as broker: broker.port ...`."""

    def __init__(self, data_dir: Path, *, stock: bool, loop: str = "asyncio") -> None:
        self.stock = stock
        self.label = "stock" if stock else "patched"
        if stock:
            command = [sys.executable, "-m", "tests.broker.bench.stock"]
        else:
            command = [sys.executable, "-m", "broker", "--log-level", "WARNING", "--loop", loop]
        command += ["--data-dir", str(data_dir), "--host", HOST, "--port", "0"]
        broker_cores, load_cores = _cores()
        self._child = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,  # its end of this pipe stops the broker if the bench dies
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            preexec_fn=lambda: os.sched_setaffinity(0, broker_cores),
        )
        os.sched_setaffinity(0, load_cores)
        self.process = psutil.Process(self._child.pid)
        self.port = self._read_port()

    def _read_port(self) -> int:
        assert self._child.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        line = ""
        while time.monotonic() < deadline and self._child.poll() is None:
            line = self._child.stdout.readline()
            if line.startswith("ready "):
                return int(line.split()[1])
        self.kill()
        raise RuntimeError(f"{self.label} broker did not start (last line {line!r})")

    def rss(self) -> int:
        """Resident memory of the broker process, in bytes."""
        return int(self.process.memory_info().rss)

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def stop(self, timeout: float) -> float | None:
        """SIGTERM, and the seconds until the process exited; None if killed after `timeout`."""
        started = time.monotonic()
        self._child.send_signal(signal.SIGTERM)
        try:
            self._child.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        return time.monotonic() - started

    def kill(self) -> None:
        if self._child.poll() is None:
            self._child.kill()
        self._child.wait()

    def __enter__(self) -> BrokerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill()

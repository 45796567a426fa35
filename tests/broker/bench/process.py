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
KTHREADD = 2  # the parent of Linux's kernel threads
_ALL_CORES = sorted(os.sched_getaffinity(0))  # before this process pins itself


def machine_busy_seconds() -> float:
    """CPU seconds processes have run on this machine, all cores summed.

    Interrupt time is left out: the kernel's loopback work for the bench's own sockets
    is accounted there, to no process.
    """
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system)


def wait_for_quiet(below_percent: float, give_up_s: float = 120.0) -> float:
    """Wait until the machine is busy less than `below_percent` of one core over a
    second (others' test runs on a shared machine); the last sample, after `give_up_s`
    at most."""
    deadline = time.monotonic() + give_up_s
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        busy = 100 * (machine_busy_seconds() - before)
        if busy < below_percent or time.monotonic() >= deadline:
            return busy


class OthersLoad:
    """How busy the machine was, apart from the broker and the bench, during a measurement."""

    def __init__(self, broker: BrokerProcess) -> None:
        self._broker = broker
        self._started = self._sample()

    def _sample(self) -> tuple[float, float, float, float, float]:
        return (
            time.monotonic(),
            machine_busy_seconds(),
            self._broker.cpu_seconds(),
            time.process_time(),  # this process, every thread
            _kernel_threads_seconds(),  # e.g. ksoftirqd, busy with the bench's own sockets
        )

    def percent(self) -> float:
        """Percent of one core used by other processes since this object was made."""
        wall, busy, broker, own, kernel = (
            end - start for end, start in zip(self._sample(), self._started, strict=True)
        )
        return max(0.0, 100 * (busy - broker - own - kernel) / wall) if wall > 0 else 0.0


def _kernel_threads_seconds() -> float:
    total = 0.0
    for process in psutil.process_iter(["pid", "ppid", "cpu_times"]):
        info = process.info
        if (info["pid"] == KTHREADD or info["ppid"] == KTHREADD) and info["cpu_times"]:
            total += info["cpu_times"].user + info["cpu_times"].system
    return total


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

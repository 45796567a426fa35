"""CPU time and machine facts from /proc (Linux): no dependency beyond the standard library.

Numbers that cannot be read (another OS, a process that just ended) come back as
None or empty, and the report shows "-" for them rather than failing the run.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

from clients.bench.stats import MACHINE

PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds of a process, all its threads included."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # After the name: state(0) ppid(1) ... utime(11) stime(12), per proc(5).
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    try:
        entries = [entry.name for entry in PROC.iterdir() if entry.name.isdigit()]
    except OSError:
        return []
    for name in entries:
        fields = _stat_fields(int(name))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def command_line(pid: int) -> list[str]:
    """The process's arguments (empty when it is gone or a kernel thread)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_broker_command(args: list[str]) -> bool:
    """Whether these arguments run a broker: `mosquitto ...` or `python -m broker ...`.

    `setpriv --pdeathsig KILL -- mosquitto ...` execs Mosquitto in place, so the
    process's arguments are Mosquitto's own once it runs.
    """
    if args and Path(args[0]).name == "mosquitto":
        return True
    return any(a == "-m" and b == "broker" for a, b in itertools.pairwise(args))


def broker_pids(server_pid: int) -> list[int]:
    """The broker processes below a server: its Mosquitto or its embedded broker child.

    Found by command line rather than taken as "every child", so that a short-lived
    helper (the compiler building the Mosquitto plugin at start) is not counted as
    the broker, and a broker the server restarted is found under its new pid.
    """
    return [pid for pid in descendants(server_pid) if is_broker_command(command_line(pid))]


def own_cpu_seconds() -> float:
    """CPU time of this process, every thread included."""
    return time.process_time()


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine spent busy, all cores summed (idle, iowait excluded)."""
    try:
        first = (PROC / "stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    # cpu user nice system idle iowait irq softirq steal (guest time is inside user)
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_S


def wait_for_quiet(below_percent: float, sample_s: float, give_up_s: float) -> float | None:
    """Wait until the machine is busy less than `below_percent` (of one core) over a sample.

    Returns the last sample's busy percentage (None without /proc); gives up, returning
    it anyway, after `give_up_s`. Benchmarks on a shared machine wait here for others'
    test runs to finish rather than measuring them.
    """
    deadline = time.monotonic() + give_up_s
    while True:
        before = machine_busy_seconds()
        time.sleep(sample_s)
        after = machine_busy_seconds()
        if before is None or after is None:
            return None
        busy = 100 * (after - before) / sample_s
        if busy < below_percent or time.monotonic() >= deadline:
            return busy


def machine_sample() -> dict[str, float]:
    """`{MACHINE: busy seconds}` for a CPU sample, or nothing where /proc has no answer."""
    busy = machine_busy_seconds()
    return {} if busy is None else {MACHINE: busy}


def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it."""
    try:
        for row in (PROC / "cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                return row.partition(":")[2].strip()
    except OSError:
        pass
    return "unknown"


def memory_gib() -> float | None:
    """Total memory, GiB."""
    try:
        for row in (PROC / "meminfo").read_text().splitlines():
            if row.startswith("MemTotal:"):
                return round(int(row.split()[1]) * 1024 / 2**30, 1)
    except OSError:
        pass
    return None


def process_rss_bytes(pid: int) -> int | None:
    """Resident memory (VmRSS) of a process, in bytes; None if it cannot be read."""
    try:
        rows = (PROC / str(pid) / "status").read_text().splitlines()
    except OSError:
        return None
    for row in rows:
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) * 1024  # the kernel reports kB
    return None

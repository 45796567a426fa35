"""The server under load: a `mqchat serve` child on free loopback ports, or one running.

Users are created with `mqchat user import` against the server's data dir (one CLI
call for all of them), the way an operator would. CPU time is read from /proc, for the
server process and for its broker child (the embedded broker when it runs apart, or
the `mosquitto` the server started).
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import io
import os
import secrets
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from clients.bench.configs import config
from clients.bench.procfs import broker_pids, descendants, process_cpu_seconds

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20
IMPORT_TIMEOUT_S = 120
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class ServerFailure(Exception):
    """The server did not start, or a CLI call against its data dir failed."""


def read_ready_line(stdout: IO[str] | None, timeout: float) -> str:
    """The child's first stdout line, or "" if none came within `timeout` seconds."""
    if stdout is None:
        return ""
    ready, _, _ = select.select([stdout], [], [], timeout)
    return stdout.readline().strip() if ready else ""


@dataclass
class BenchServer:
    """Where the load goes; `mode` is a configuration of `configs` ("separate",
    "inline", "mosquitto") or "external" (a server the bench did not start)."""

    data_dir: Path
    mqtt_port: int
    mode: str
    process: subprocess.Popen[str] | None = None
    _tag: str = field(default_factory=lambda: secrets.token_hex(3))
    _created: int = 0
    _batches: int = 0

    @classmethod
    @contextlib.contextmanager
    def started(cls, data_dir: Path, mode: str) -> Iterator[BenchServer]:
        """Run `mqchat serve` in configuration `mode` until the block ends."""
        data_dir.mkdir(parents=True, exist_ok=True)
        setup = config(mode)
        # The per-user rate limits are for people; a bench user sends as fast as it can.
        env = {**os.environ, "MQCHAT_RATE_LIMITS": "false"}
        if setup.broker_process is not None:
            env["MQCHAT_BROKER_PROCESS"] = setup.broker_process
        with (data_dir.parent / f"{data_dir.name}-server.log").open("a") as log:
            process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
                [
                    sys.executable,
                    "-m",
                    "backend",
                    "serve",
                    "--data-dir",
                    str(data_dir),
                    "--host",
                    HOST,
                    "--mqtt-port",
                    "0",
                    "--http-port",
                    "0",
                    *setup.serve_args,
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
                # Its own process group: a kill reaches the broker child too.
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        try:
            line = read_ready_line(process.stdout, READY_TIMEOUT_S)
            if not line.startswith("mqchat ready"):
                raise ServerFailure(f"mqchat serve did not start (said {line!r}); see {log.name}")
            yield cls(data_dir, _mqtt_port(line), mode, process)
        finally:
            _stop(process)

    @classmethod
    def external(cls, address: str, data_dir: Path) -> BenchServer:
        """A server already running on `127.0.0.1:<port>` that keeps its data in `data_dir`."""
        host, _, port = address.rpartition(":")
        if host not in (HOST, "localhost") or not port.isdigit():
            raise ServerFailure(f"--server must be {HOST}:<mqtt port>, not {address!r}")
        if not (data_dir / "backend.secret").is_file():
            raise ServerFailure(f"{data_dir} is not the data dir of a server (no backend.secret)")
        return cls(data_dir, int(port), "external")

    def create_users(self, count: int, label: str) -> dict[str, str]:
        """`count` new users with ids and phones no earlier call used; id -> token."""
        rows = []
        self._batches += 1  # a phase measured again gets users of its own
        for index in range(count):
            self._created += 1
            user_id = f"b{self._tag}{self._batches}-{label}-{index}"
            # Unique per bench run even on a shared server: the tag is random.
            phone = f"+1{int(self._tag, 16) % 10**7:07d}{self._created:05d}"
            rows.append(f"{user_id},{phone},bench {index}\n")
        csv_path = self.data_dir.parent / f"bench-users-{self._tag}-{label}.csv"
        csv_path.write_text("id,phone,name\n" + "".join(rows))
        try:
            result = subprocess.run(  # noqa: S603 (our interpreter, our arguments)
                [
                    sys.executable,
                    "-m",
                    "backend",
                    "user",
                    "import",
                    str(csv_path),
                    "--data-dir",
                    str(self.data_dir),
                ],
                capture_output=True,
                text=True,
                timeout=IMPORT_TIMEOUT_S,
                check=False,
            )
        finally:
            csv_path.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ServerFailure(f"mqchat user import failed: {result.stderr.strip()}")
        return {user_id: token for user_id, token in csv.reader(io.StringIO(result.stdout))}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time so far of the server ("server") and of its broker child ("broker")."""
        if self.process is None:
            return {}
        return server_and_broker_cpu(self.process.pid)


def server_and_broker_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a server ("server") and of the broker below it ("broker", 0 when
    inline); any other descendant counts as the server's."""
    own = process_cpu_seconds(pid)
    if own is None:
        return {}
    brokers = set(broker_pids(pid))
    children = {child: process_cpu_seconds(child) or 0.0 for child in descendants(pid)}
    return {
        "server": own + sum(cpu for child, cpu in children.items() if child not in brokers),
        "broker": sum(cpu for child, cpu in children.items() if child in brokers),
    }


def process_tree_cpu(pid: int, *, label: str, child_label: str | None = None) -> dict[str, float]:
    """User+system CPU seconds of a process and of its descendants (summed).

    With `child_label`, the descendants are reported apart under that name.
    """
    own = process_cpu_seconds(pid)
    if own is None:
        return {}
    children = sum(process_cpu_seconds(child) or 0.0 for child in descendants(pid))
    if child_label is None:
        return {label: own + children}
    return {label: own, child_label: children}


def die_with_parent() -> None:
    """In the child: get SIGTERM when the bench dies, even by SIGKILL (Linux only).

    The server runs in a session of its own, so no terminal signal reaches it; without
    this, a killed bench would leave it running.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _mqtt_port(ready_line: str) -> int:
    # "mqchat ready mqtt=127.0.0.1:PORT http=127.0.0.1:PORT"
    for word in ready_line.split():
        if word.startswith("mqtt="):
            return int(word.rpartition(":")[2])
    raise ServerFailure(f"no mqtt= in the ready line {ready_line!r}")


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL to the whole group if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT_S)
    if process.stdout is not None:
        process.stdout.close()

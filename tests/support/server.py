"""A real mqchat server in a child process, on free loopback ports, for end-to-end tests."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT_S = 60
# The brokers the end-to-end suite runs against: every test that takes the `server` or
# `broker` fixture runs once with each.
BROKERS = ("embedded", "mosquitto")
STOP_TIMEOUT_S = 20
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def mqchat(
    *args: str, data_dir: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one `mqchat` CLI command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "backend", *args, "--data-dir", str(data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class ServerProcess:
    """`mqchat serve` in its own process group (the broker child dies with it on kill)."""

    data_dir: Path
    extra_args: list[str] = field(default_factory=list)
    broker: str = "embedded"  # or "mosquitto": see BROKERS
    mqtt_port: int = 0
    http_port: int = 0
    process: subprocess.Popen[str] | None = None
    log_path: Path | None = None

    def start(self) -> None:
        """Start on fresh free ports (retrying if one was taken meanwhile) or the same ports."""
        attempts = 3 if self.mqtt_port == 0 else 1
        for attempt in range(attempts):
            if attempts > 1:
                self.mqtt_port, self.http_port = free_port(), free_port()
            if self._try_start():
                return
            if attempt == attempts - 1:
                raise RuntimeError(f"server did not start; log:\n{self.log()}")

    def _try_start(self) -> bool:
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--host",
                HOST,
                "--mqtt-port",
                str(self.mqtt_port),
                "--http-port",
                str(self.http_port),
                "--broker",
                self.broker,
                *self.extra_args,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        log.close()
        ready = self._wait_ready()
        if not ready:
            self.kill()
        return ready

    def _wait_ready(self) -> bool:
        assert self.process is not None and self.process.stdout is not None
        result: list[str] = []
        stdout = self.process.stdout

        def read() -> None:
            result.append(stdout.readline())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(READY_TIMEOUT_S)
        return bool(result) and result[0].startswith("mqchat ready")

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def stop(self) -> int:
        """SIGTERM and wait: the clean shutdown path. Returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(STOP_TIMEOUT_S)
        self._close_stdout()
        return code

    def kill(self) -> None:
        """SIGKILL the whole process group: the server and its broker, mid-flight."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_S)
        self._close_stdout()

    def _close_stdout(self) -> None:
        # The pipe the ready line came through; left open, it is an unclosed file when the
        # Popen is collected, which filterwarnings=error turns into a failed test run.
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def add_user(self, user_id: str, phone: str | None = None, name: str = "") -> str:
        phone = phone or next_phone()
        result = mqchat(
            "user", "add", user_id, "--phone", phone, "--name", name, data_dir=self.data_dir
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def add_users(self, user_ids: list[str]) -> dict[str, str]:
        """Create many users with one CLI call; returns their tokens."""
        rows = "".join(f"{uid},{next_phone()},{uid}\n" for uid in user_ids)
        csv_path = self.data_dir.parent / f"users-{user_ids[0]}-{len(user_ids)}.csv"
        csv_path.write_text("id,phone,name\n" + rows)
        result = mqchat("user", "import", str(csv_path), data_dir=self.data_dir)
        assert result.returncode == 0, result.stderr
        return dict(line.split(",", 1) for line in result.stdout.split())


_phones = itertools.count(100_000_000)


def next_phone() -> str:
    """A phone number no other user of this test run has."""
    return f"+1{next(_phones)}"

"""A broker alone on the bench's data dir, with no backend: what the raw relay measures.

The embedded broker runs as `python -m broker`; Mosquitto runs with the configuration
and plugin the server would give it (`backend.mosquitto_config`), on a port of its own
and with its own persistence folder, so that nothing the server's Mosquitto saved
(the backend's session and what was queued for it) is relayed again.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from backend.accounts import BACKEND_USERNAME, backend_secret_path
from backend.mosquitto_config import MosquittoConfig, build_plugin, mosquitto_binary
from backend.settings import Settings
from clients.bench.mqtt import HOST
from clients.bench.server import (
    READY_TIMEOUT_S,
    STOP_TIMEOUT_S,
    ServerFailure,
    die_with_parent,
    read_ready_line,
)

POLL_S = 0.02


@contextlib.contextmanager
def standalone_broker(data_dir: Path, broker: str = "embedded") -> Iterator[tuple[int, int]]:
    """`broker` ("embedded" or "mosquitto") on `data_dir` and a free port; yields
    `(port, pid)` and stops it when the block ends."""
    if broker == "mosquitto":
        with _mosquitto(data_dir) as started:
            yield started
    else:
        with _embedded(data_dir) as started:
            yield started


@contextlib.contextmanager
def _embedded(data_dir: Path) -> Iterator[tuple[int, int]]:
    log_path = data_dir.parent / f"{data_dir.name}-relay-broker.log"
    with log_path.open("a") as log:
        process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
            [
                sys.executable,
                "-m",
                "broker",
                "--data-dir",
                str(data_dir),
                "--host",
                HOST,
                "--port",
                "0",
            ],
            # The broker exits when its stdin ends: it cannot outlive the bench.
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        word, _, port = read_ready_line(process.stdout, READY_TIMEOUT_S).partition(" ")
        if word != "ready" or not port.isdigit():
            raise ServerFailure(f"python -m broker did not start; see {log_path}")
        yield int(port), process.pid
    finally:
        if process.stdin is not None:
            process.stdin.close()
        _wait_or_kill(process)
        if process.stdout is not None:
            process.stdout.close()


@contextlib.contextmanager
def _mosquitto(data_dir: Path) -> Iterator[tuple[int, int]]:
    work_dir = (data_dir / "relay-mosquitto").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    defaults = Settings(data_dir=data_dir)
    port = _free_port()
    settings = MosquittoConfig(
        host=HOST,
        port=port,
        work_dir=work_dir,
        # The server built it into its own folder: found there, not compiled again.
        plugin=build_plugin(data_dir / "mosquitto").resolve(),
        db_path=defaults.db_path.resolve(),
        backend_username=BACKEND_USERNAME,
        backend_password_file=backend_secret_path(data_dir).resolve(),
        max_connections=defaults.max_connections,
        max_packet_bytes=defaults.max_packet_bytes,
        offline_queue_limit=defaults.offline_queue_limit,
    )
    config_path = work_dir / "mosquitto.conf"
    config_path.write_text(settings.render())
    log_path = data_dir.parent / f"{data_dir.name}-relay-mosquitto.log"
    with log_path.open("a") as log:
        process = subprocess.Popen(  # noqa: S603 (a fixed binary, our arguments)
            [mosquitto_binary(), "-c", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=die_with_parent,
        )
    try:
        _until_listening(process, port, log_path)
        yield port, process.pid
    finally:
        if process.poll() is None:
            process.terminate()
        _wait_or_kill(process)


def _until_listening(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    """Mosquitto says nothing when ready: wait until its port accepts connections."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(POLL_S)
    raise ServerFailure(f"mosquitto did not start; see {log_path}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_or_kill(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)

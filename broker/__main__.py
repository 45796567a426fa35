"""`python -m broker`: the embedded broker in a process of its own.

It prints one line, `ready <port>`, on stdout once it listens (the real port when
`--port 0`), logs to stderr, and exits cleanly on SIGTERM or SIGINT, or when its
stdin reaches EOF: the server that started it holds the other end of that pipe, so
the broker goes away with the server, even one killed with SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from backend.settings import load_settings
from broker.run import BrokerStartError, EmbeddedBroker

log = logging.getLogger("broker")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the broker until a signal or the end of stdin; the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.log_level != "DEBUG":
        # amqtt and its state machines (transitions) log every connection at INFO.
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
    settings = load_settings(
        args.config,
        data_dir=args.data_dir,
        host=args.host,
        mqtt_port=args.port,
        max_connections=args.max_connections,
        connect_timeout_s=args.connect_timeout,
        max_packet_bytes=args.max_packet_bytes,
        offline_queue_limit=args.offline_queue_limit,
    )
    runner = _runner(args.loop)
    return runner(_serve(settings, watch_stdin=not args.ignore_stdin))


async def _serve(settings: Any, *, watch_stdin: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    broker = EmbeddedBroker(settings)
    try:
        await broker.start()
    except BrokerStartError as error:
        log.error("cannot start: %s", error)
        return 1
    try:
        print(f"ready {broker.port}", flush=True)
        if watch_stdin:
            _stop_at_stdin_eof(loop, stop)
        await stop.wait()
        log.info("stopping")
    finally:
        await broker.stop()
    return 0


def _stop_at_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set `stop` when stdin ends. A thread: it works for pipes, files and terminals alike."""

    stdin = sys.stdin.fileno()

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            # Whatever the parent writes is ignored; only the end of the pipe matters.
            while os.read(stdin, 4096):
                pass
        log.info("stdin closed: the parent is gone")
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def _runner(choice: str) -> Callable[[Coroutine[Any, Any, int]], int]:
    # asyncio by default: uvloop saves little here (tests/broker/bench; the time goes
    # to Python code), every test runs on asyncio, and it is one more thing.
    if choice == "uvloop":
        import uvloop

        return uvloop.run
    return asyncio.run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m broker", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="TOML settings file, as for mqchat serve")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int, help="0 picks a free port")
    parser.add_argument("--max-connections", type=int)
    parser.add_argument("--connect-timeout", type=float, help="seconds")
    parser.add_argument("--max-packet-bytes", type=int)
    parser.add_argument("--offline-queue-limit", type=int)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument(
        "--ignore-stdin", action="store_true", help="do not exit when stdin reaches EOF"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())

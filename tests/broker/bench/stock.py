"""`python -m tests.broker.bench.stock`: stock amqtt 0.12.1 as `python -m broker` runs ours.

amqtt's own `Broker`, with mqchat's config and plugins (as `AMQTT_STOCK=1` does for
the tests), none of our fixes. Same contract: `ready <port>` on stdout once listening,
shutdown on SIGTERM/SIGINT or at the end of stdin, logs at WARNING.
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
from pathlib import Path

from amqtt.broker import Broker

from backend.settings import Settings
from broker.config import amqtt_config


async def serve(data_dir: Path, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    broker = Broker(amqtt_config(Settings(data_dir=data_dir, host=host, mqtt_port=port)))
    await broker.start()
    bound = broker._servers["default"].instance.sockets[0].getsockname()[1]
    print(f"ready {bound}", flush=True)

    def watch_stdin() -> None:
        # os.read, not sys.stdin: a buffered read holds a lock that interpreter exit needs.
        with contextlib.suppress(OSError):
            while os.read(stdin, 4096):
                pass
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            loop.call_soon_threadsafe(stop.set)

    stdin = sys.stdin.fileno()

    threading.Thread(target=watch_stdin, daemon=True).start()
    await stop.wait()
    await broker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.broker.bench.stock")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    asyncio.run(serve(args.data_dir, args.host, args.port))


if __name__ == "__main__":
    main()

"""A TCP relay on loopback whose network can vanish and return: `freeze()` / `thaw()`.

Frozen, it reads from neither side and writes to neither, and new connections wait:
nothing gets through and nobody is told (no FIN, no RST), as when a phone goes into a
tunnel. Thawed, bytes flow again; a connection the broker gave up on meanwhile then
ends, as a dead TCP connection does when the network returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from tests.support.relay import LoopbackRelay

READ_BYTES = 65536


class FreezableProxy(LoopbackRelay):
    """`async with FreezableProxy(broker_port) as proxy:` then connect to `proxy.port`."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port)
        self._flowing = asyncio.Event()
        self._flowing.set()

    def freeze(self) -> None:
        """The network vanishes."""
        self._flowing.clear()

    def thaw(self) -> None:
        """The network returns."""
        self._flowing.set()

    async def before_connecting(self) -> None:
        await self._flowing.wait()  # a new connection waits too

    def pumps(
        self,
        client_in: asyncio.StreamReader,
        client_out: asyncio.StreamWriter,
        broker_in: asyncio.StreamReader,
        broker_out: asyncio.StreamWriter,
    ) -> list[Coroutine[Any, Any, None]]:
        return [self._pump(client_in, broker_out), self._pump(broker_in, client_out)]

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while True:
            await self._flowing.wait()
            data = await source.read(READ_BYTES)
            if not data:
                raise EOFError
            await self._flowing.wait()  # what was read as the network vanished is held
            sink.write(data)
            await sink.drain()

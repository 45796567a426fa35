"""A TCP relay on loopback whose network can vanish and return: `freeze()` / `thaw()`.

Frozen, it reads from neither side and writes to neither, and new connections wait:
nothing gets through and nobody is told (no FIN, no RST), as when a phone goes into a
tunnel. Thawed, bytes flow again; a connection the broker gave up on meanwhile then
ends, as a dead TCP connection does when the network returns.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.server import HOST

READ_BYTES = 65536


class FreezableProxy:
    """`async with FreezableProxy(broker_port) as proxy:` then connect to `proxy.port`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    def freeze(self) -> None:
        """The network vanishes."""
        self._flowing.clear()

    def thaw(self) -> None:
        """The network returns."""
        self._flowing.set()

    async def __aenter__(self) -> FreezableProxy:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for relay in list(self._relays):
            relay.cancel()
        for relay in list(self._relays):
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        await self._server.wait_closed()

    async def _accept(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            await self._relay(client_in, client_out)
        except asyncio.CancelledError:
            # Closing the proxy cancels its relays; asyncio logs a connection callback
            # that ends cancelled as an error, so this one ends normally.
            pass
        finally:
            client_out.close()
            self._relays.discard(task)

    async def _relay(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        await self._flowing.wait()
        try:
            broker_in, broker_out = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            return
        try:
            async with asyncio.TaskGroup() as pumps:
                pumps.create_task(self._pump(client_in, broker_out))
                pumps.create_task(self._pump(broker_in, client_out))
        except* (OSError, EOFError):
            pass  # either side hung up
        finally:
            broker_out.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while True:
            await self._flowing.wait()
            data = await source.read(READ_BYTES)
            if not data:
                raise EOFError
            await self._flowing.wait()  # what was read as the network vanished is held
            sink.write(data)
            await sink.drain()

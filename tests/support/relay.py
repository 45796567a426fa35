"""A TCP relay on loopback between clients and the real broker, for tests that act on the
wire (lose an ack, freeze the network) without mocking anything.

Subclasses say how the bytes go (`pumps`), and may hold back new connections
(`before_connecting`); this part listens, connects each client to the broker and ends
every relay when the proxy closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, Self

from tests.support.server import HOST


class LoopbackRelay:
    """`async with SomeRelay(broker_port) as relay:` then connect to `relay.port`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
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

    async def before_connecting(self) -> None:
        """Awaited before a new client is connected to the broker."""

    def pumps(
        self,
        client_in: asyncio.StreamReader,
        client_out: asyncio.StreamWriter,
        broker_in: asyncio.StreamReader,
        broker_out: asyncio.StreamWriter,
    ) -> list[Coroutine[Any, Any, None]]:
        """What moves bytes each way; each ends by raising when its side hangs up."""
        raise NotImplementedError

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
        await self.before_connecting()
        try:
            broker_in, broker_out = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            return  # the broker is down: the client sees the connection close
        try:
            async with asyncio.TaskGroup() as tasks:
                for pump in self.pumps(client_in, client_out, broker_in, broker_out):
                    tasks.create_task(pump)
        except* (OSError, EOFError):  # IncompleteReadError is an EOFError
            pass  # either side hung up
        finally:
            broker_out.close()

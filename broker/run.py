"""`EmbeddedBroker`: mqchat's MQTT broker, run inside the current event loop.

It is amqtt with the fixes of `broker.patches`, mqchat's auth and topic plugins, and
the limits from `Settings`. The backend talks to it over TCP like any client.
"""

from __future__ import annotations

from types import TracebackType

from amqtt.errors import BrokerError

from backend.settings import Settings
from broker import acl
from broker.config import BrokerLimits, amqtt_config
from broker.patches import PatchedBroker


class BrokerStartError(RuntimeError):
    """The broker could not start: the port taken, the address wrong, a plugin broken."""


class EmbeddedBroker:
    """Start with `await start()` (or `async with`), stop with `await stop()`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._broker: PatchedBroker | None = None
        self._port: int | None = None

    @property
    def host(self) -> str:
        return self._settings.host

    @property
    def port(self) -> int:
        """The port listened on: the real one when `settings.mqtt_port` is 0."""
        if self._port is None:
            raise RuntimeError("the broker is not started")
        return self._port

    async def start(self) -> None:
        """Listen on `settings.host`:`settings.mqtt_port` and serve until `stop()`.

        Raises `BrokerStartError` when it cannot.
        """
        if self._broker is not None:
            raise RuntimeError("the broker is already started")
        broker = PatchedBroker(
            amqtt_config(self._settings),
            limits=BrokerLimits.from_settings(self._settings),
            may_retain=acl.may_retain,
        )
        try:
            await broker.start()
        except BrokerError as error:
            raise BrokerStartError(str(error)) from error
        self._broker = broker
        sockets = broker._servers["default"].instance.sockets
        self._port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close every connection and stop listening. Safe to call twice."""
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

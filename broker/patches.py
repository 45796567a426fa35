"""Fixes to amqtt 0.12.1, as a `Broker` subclass that `EmbeddedBroker` uses explicitly.

Nothing here changes amqtt globally or at import: the stock `amqtt.broker.Broker`
stays as it was (the regression tests run against it too, to show each fault).
The fixes, by the fault numbers of the issue "Harden and speed up the embedded
broker" (broker/README.md maps each to the test that proves it):

1. Authentication runs before any session is looked up, so a refused CONNECT with
   a victim's client id leaves the victim's session, connection and will alone.
   (`broker.connections`)
2. A refused CONNECT leaves no session behind. (`broker.connections`)
3. A new connection gets no retained messages for other clients' subscriptions
   (amqtt sent it every retained message matching anyone's filter). Retained
   messages are sent on SUBSCRIBE only [MQTT-3.3.1-6]. (`broker.connections`)
4. A will is refused at CONNECT, and never published, where its client may not
   publish. (`broker.connections`, `broker.delivery`)
6. Keep-alive is enforced: no packet for 1.5 x keep-alive closes the connection and
   publishes the will. (`broker.handler`)
7. A takeover ends the old connection completely (will included) before the new
   one takes the session, which stays connected and gets its messages.
   (`broker.connections`)
8. A PUBLISH to a `$` topic is dropped; to an empty or wildcard topic it closes the
   connection (a protocol violation). The connection never hangs half-served.
   (`broker.delivery`, `broker.packets`)
9. Delivery QoS is min(publish QoS, subscription QoS); queued messages are replayed
   with RETAIN 0. (`broker.delivery`)
10. A QoS 1 message stays in flight until acknowledged, across reconnects; the
    offline queue is bounded. (`broker.outbox`, `broker.delivery`)
11. SUBSCRIBE with QoS 3 or no filters, and other malformed packets, close the
    connection. (`broker.packets`)
12. Exceptions in plugins are logged, and refuse the request. (`broker.delivery`,
    `LoggingPluginManager` below)
Also: packet size limit, CONNECT timeout, connection limit that closes instead of
stalling, bounded socket close (`broker.packets`, `broker.connections`,
`broker.handler`); deliveries without a task each, within an in-flight window
(`broker.outbox`); subscriptions found through an index (`broker.subscriptions`).
Costs: each connection's reader routes its packets itself, with no task or queue per
packet and no subscription table formatted per SUBSCRIBE (`broker.handler`); nothing
walks other clients' subscriptions at CONNECT or at shutdown; sessions without
amqtt's state machine and queues (`broker.session`).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from amqtt.plugins.manager import PluginManager

from broker.config import BrokerLimits
from broker.connections import ConnectionsPatch, KeyedLocks
from broker.delivery import DeliveryPatch, RetainPolicy
from broker.subscriptions import SubscriptionsPatch
from broker.topic_index import TopicIndex

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 5.0


class LoggingPluginManager(PluginManager):  # type: ignore[misc]  # amqtt is untyped
    """amqtt's plugin manager, but a failing event handler is logged at ERROR.

    amqtt prints such a failure only when its own logger is at DEBUG.
    """

    def _clean_fired_events(self, future: Any) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.error("a plugin's event handler failed", exc_info=future.exception())
        with contextlib.suppress(KeyError, ValueError):
            self._fired_events.remove(future)


class PatchedBroker(ConnectionsPatch, DeliveryPatch, SubscriptionsPatch):
    """amqtt's `Broker` with the fixes listed in this module's docstring."""

    def __init__(
        self, config: dict[str, Any], *, limits: BrokerLimits, may_retain: RetainPolicy
    ) -> None:
        super().__init__(config)
        self._limits = limits
        self._may_retain = may_retain
        self._connect_locks = KeyedLocks()
        self._topic_index = TopicIndex()
        self._connection_tasks = set()
        # amqtt creates its plugin manager in Broker.__init__, plugins loaded and all;
        # the subclass adds no state, so switching the class is safe.
        self.plugins_manager.__class__ = LoggingPluginManager
        manager = self.plugins_manager
        self._topic_plugins = (
            list(manager._topic_plugins) if manager.is_topic_filtering_enabled() else []
        )

    async def shutdown(self) -> None:
        """Stop accepting, end every connection, then stop; amqtt does not wait for them."""
        for server in self._servers.values():
            server.instance.close()
        await super().shutdown()
        await self.wait_connections_closed(SHUTDOWN_TIMEOUT_S)

"""From an accepted PUBLISH (or will) to the subscribers, the way MQTT 3.1.1 says.

Against amqtt's broker:
- a message goes out at min(publish QoS, subscription QoS) [MQTT-3.8.4-6]; amqtt
  sends it at the subscription's QoS;
- a message queued for an offline session is replayed with RETAIN 0 (it is not a
  retained message), and the queue holds at most `offline_queue_limit` messages,
  the oldest dropped first (the store, not the broker, is the source of truth);
- a message is routed as its PUBLISH is handled, not through amqtt's broadcast queue
  with a task per message (whose failures nobody looked at);
- a PUBLISH to a `$` topic is dropped, and the connection goes on (amqtt stopped
  serving it without closing it);
- a will is published only where its client may publish;
- clients may set RETAIN only where `may_retain` allows; elsewhere the message is
  delivered but not kept;
- an exception in an auth or topic plugin is logged and refuses the request (amqtt
  lets it escape, and the client gets no answer at all).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.events import BrokerEvents
from amqtt.session import IncomingApplicationMessage, Session

from broker.acl import is_valid_topic_name
from broker.config import BrokerLimits
from broker.handler import ConnectionHandler
from broker.outbox import enqueue, queued

log = logging.getLogger(__name__)

RetainPolicy = Callable[[str | None, str], bool]
"""`may_retain(username, topic)`: may this account's PUBLISH with RETAIN be kept?"""


class DeliveryPatch(Broker):  # type: ignore[misc]  # amqtt is untyped
    """Message routing of `PatchedBroker`."""

    _limits: BrokerLimits
    _may_retain: RetainPolicy
    _topic_plugins: list[Any]
    """The topic plugins to ask, none if filtering is off: fixed once plugins are loaded."""

    async def on_publish(self, session: Session, message: IncomingApplicationMessage) -> None:
        """Route a PUBLISH that a client's connection accepted (`broker.handler.Router`)."""
        await self.plugins_manager.fire_event(
            BrokerEvents.MESSAGE_RECEIVED, client_id=session.client_id, message=message
        )
        topic = message.topic
        if topic.startswith("$") or not is_valid_topic_name(topic):
            log.info("client %r published to %r: dropped", session.client_id, topic)
            return
        if not await self._topic_filtering(session, topic, Action.PUBLISH):
            log.info("client %r may not publish to %r: dropped", session.client_id, topic)
            return
        await self.plugins_manager.fire_event(
            BrokerEvents.MESSAGE_BROADCAST, client_id=session.client_id, message=message
        )
        await self._broadcast_message(session, topic, bytes(message.data), message.qos)
        if message.publish_packet is not None and message.publish_packet.retain_flag:
            await self._retain_if_allowed(session, topic, bytes(message.data), message.qos)

    async def _publish_will(
        self, session: Session, topic: str, message: bytes, qos: int, retain: bool
    ) -> None:
        """Publish a will, if its client may publish there (amqtt never asks)."""
        allowed = (
            is_valid_topic_name(topic)
            and not topic.startswith("$")
            and await self._topic_filtering(session, topic, Action.PUBLISH)
        )
        if not allowed:
            log.warning("will of %r to %r refused: not published", session.client_id, topic)
            return
        await self._broadcast_message(session, topic, message, qos)
        if retain:
            await self._retain_if_allowed(session, topic, message, qos)

    async def _retain_if_allowed(self, session: Session, topic: str, data: bytes, qos: int) -> None:
        if self._may_retain(session.username, topic):
            await self.retain_message(session, topic, data, qos)
        else:
            log.debug("client %r may not retain on %r: not kept", session.client_id, topic)

    async def _broadcast_message(
        self, session: Session | None, topic: str, data: bytes, force_qos: int | None = None
    ) -> None:
        # Routed here, not through amqtt's broadcast queue and its task per message
        # (whose failures nobody looked at): cheaper, and in the publisher's order.
        try:
            await self._deliver(topic, data, force_qos)
        except Exception:
            log.exception("delivering a message on %r failed", topic)

    async def _deliver(self, topic: str, data: bytes, publish_qos: int | None) -> None:
        for session, qos in self._subscribers(topic, publish_qos).values():
            if not await self._topic_filtering(session, topic, Action.RECEIVE):
                continue
            if session.transitions.state == "connected":
                handler = self._get_handler(session)
                if isinstance(handler, ConnectionHandler):
                    handler.deliver(topic, data, qos, retain=False)
            elif not session.clean_session and qos > 0:  # [MQTT-3.1.2-5]
                # Replayed with RETAIN 0; amqtt replays such messages with RETAIN 1,
                # as if each were its topic's retained message.
                await self._queue_offline(session, queued(topic, data, qos))

    async def _queue_offline(self, session: Session, message: Any) -> None:
        enqueue(session, message, self._limits.queue_limit(session.username))
        await self.plugins_manager.fire_event(
            BrokerEvents.RETAINED_MESSAGE, client_id=session.client_id, retained_message=message
        )

    async def _authenticate(self, session: Session, listener: Any) -> bool:
        """All auth plugins that answer must say yes, and at least one must answer."""
        verdicts = []
        for plugin in self.plugins_manager._auth_plugins:
            try:
                verdict = await plugin.authenticate(session=session)
            except Exception:
                log.exception("auth plugin %s failed; refusing %r", plugin, session.client_id)
                return False
            if verdict is not None:
                verdicts.append(bool(verdict))
        return bool(verdicts) and all(verdicts)

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        """Every topic plugin must allow it. Plugins are called directly, not as tasks."""
        for plugin in self._topic_plugins:
            try:
                verdict = await plugin.topic_filtering(session=session, topic=topic, action=action)
            except Exception:
                log.exception("topic plugin %s failed on %s %r; refusing", plugin, action, topic)
                return False
            if not verdict:
                return False
        return True

"""Subscriptions of `PatchedBroker`: who gets a topic, found through an index.

Against amqtt's broker:
- the filters matching a topic come from a `TopicIndex`, not from trying every
  filter of every client;
- a subscriber whose filters overlap gets one copy of a message, at the highest QoS
  of those filters (amqtt sends one copy per filter);
- subscribing again to a filter updates its QoS (amqtt kept the first one);
- QoS is granted up to 1: mqchat has no use for QoS 2, and the cap keeps amqtt's QoS 2
  flow (which gives up after 5 s) out of deliveries;
- a session's filters are remembered with it, so ending a session does not scan
  every filter of every client, and a filter no one holds any longer is forgotten;
- retained messages for a new subscription are sent without waiting for PUBACKs
  (amqtt waits, stalling the client's own later requests), and an exact filter
  finds its retained message without a scan;
- a SUBSCRIBE costs the same however many subscriptions the broker holds: amqtt's
  client loop formatted the whole subscription table for a debug line after each
  one (`repr`, whatever the log level), so connecting n clients cost O(n^2).
"""

from __future__ import annotations

from typing import Any

from amqtt.broker import Broker
from amqtt.events import BrokerEvents
from amqtt.mqtt.suback import SubackPacket
from amqtt.mqtt.unsuback import UnsubackPacket
from amqtt.session import Session

from broker.handler import ConnectionHandler
from broker.topic_index import TopicIndex

MAX_GRANTED_QOS = 1
REFUSED = 0x80
_FILTERS = "mqchat.filters"  # in Session.attributes: the session's topic filters


class SubscriptionsPatch(Broker):  # type: ignore[misc]  # amqtt is untyped
    """Subscription bookkeeping and lookup of `PatchedBroker`."""

    _topic_index: TopicIndex

    async def on_subscribe(
        self, session: Session, handler: ConnectionHandler, packet_id: int, topics: list[Any]
    ) -> None:
        """SUBSCRIBE (`broker.handler.Router`): SUBACK first, then the retained messages."""
        codes = [await self.add_subscription((f, qos), session) for f, qos in topics]
        await handler.send_packet(SubackPacket.build(packet_id, codes))
        for (topic_filter, qos), code in zip(topics, codes, strict=True):
            if code == REFUSED:
                continue
            await self.plugins_manager.fire_event(
                BrokerEvents.CLIENT_SUBSCRIBED,
                client_id=session.client_id,
                topic=topic_filter,
                qos=qos,
            )
            await self._publish_retained_messages_for_subscription((topic_filter, code), session)

    async def on_unsubscribe(
        self, session: Session, handler: ConnectionHandler, packet_id: int, topics: list[str]
    ) -> None:
        """UNSUBSCRIBE (`broker.handler.Router`), then UNSUBACK."""
        for topic_filter in topics:
            self._del_subscription(topic_filter, session)
            await self.plugins_manager.fire_event(
                BrokerEvents.CLIENT_UNSUBSCRIBED, client_id=session.client_id, topic=topic_filter
            )
        await handler.send_packet(UnsubackPacket.build(packet_id))

    async def add_subscription(self, subscription: tuple[str, int], session: Session) -> int:
        topic_filter, qos = subscription
        granted: int = await super().add_subscription(
            (topic_filter, min(qos, MAX_GRANTED_QOS)), session
        )
        subscriptions = self._subscriptions.get(topic_filter)
        if subscriptions is None:
            return granted
        self._topic_index.add(topic_filter)
        session.attributes.setdefault(_FILTERS, set()).add(topic_filter)
        for index, (subscriber, _) in enumerate(subscriptions):
            if subscriber.client_id == session.client_id:
                # [MQTT-3.8.4-3]: subscribing again replaces the subscription, QoS
                # included; amqtt kept the first QoS.
                subscriptions[index] = (session, granted)
        return granted

    def _del_subscription(self, a_filter: str, session: Session) -> int:
        deleted: int = super()._del_subscription(a_filter, session)
        session.attributes.get(_FILTERS, set()).discard(a_filter)
        if not self._subscriptions.get(a_filter, True):
            del self._subscriptions[a_filter]
            self._topic_index.discard(a_filter)
        return deleted

    async def _del_all_subscriptions(self, session: Session) -> None:
        for topic_filter in list(session.attributes.get(_FILTERS, ())):
            self._del_subscription(topic_filter, session)

    def _subscribers(self, topic: str, publish_qos: int | None) -> dict[str, tuple[Session, int]]:
        """Each subscriber matching `topic`, once, with the QoS to deliver at."""
        targets: dict[str, tuple[Session, int]] = {}
        for topic_filter in self._topic_index.matching(topic):
            for session, subscription_qos in self._subscriptions.get(topic_filter, ()):
                # A message from a plugin (publish_qos None) goes at the subscription's QoS.
                qos = (
                    subscription_qos if publish_qos is None else min(publish_qos, subscription_qos)
                )
                known = targets.get(session.client_id)
                if known is None or known[1] < qos:
                    targets[session.client_id] = (session, qos)
        return targets

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        topic_filter, qos = subscription
        handler = self._get_handler(session)
        if not isinstance(handler, ConnectionHandler):
            return
        for retained in self._retained_matching(topic_filter):
            delivery_qos = min(qos, retained.qos if retained.qos is not None else qos)
            handler.deliver(retained.topic, retained.data, delivery_qos, retain=True)

    def _retained_matching(self, topic_filter: str) -> list[Any]:
        if "+" in topic_filter or "#" in topic_filter:
            # Every user leaves a retained presence, so a full match per retained message
            # on each SUBSCRIBE made connecting quadratic (10,000 users: 37 s). Only
            # topics under the filter's literal prefix can match: test that first.
            prefix = literal_prefix(topic_filter)
            return [
                message
                for topic, message in self._retained_messages.items()
                if topic.startswith(prefix) and self._matches(topic, topic_filter)
            ]
        exact = self._retained_messages.get(topic_filter)
        return [] if exact is None else [exact]


def literal_prefix(topic_filter: str) -> str:
    """What every topic `topic_filter` matches starts with: the text before its first
    wildcard, without the level separator before it (`a/#` also matches `a`)."""
    cut = min(
        (index for index in (topic_filter.find("+"), topic_filter.find("#")) if index >= 0),
        default=len(topic_filter),
    )
    return topic_filter[:cut].removesuffix("/")

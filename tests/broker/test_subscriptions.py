"""Subscriptions: one copy per subscriber, QoS granted, filters forgotten with their session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from broker.subscriptions import literal_prefix
from tests.broker.support import Peer, RunningBroker


def test_overlapping_subscriptions_get_one_copy(peer: Callable[..., Peer], backend: Peer) -> None:
    alice = peer("alice").connected()
    alice.subscribe("chat/u/alice/in/#", qos=0)
    alice.subscribe("chat/u/alice/in/msg", qos=1)
    backend.publish("chat/u/alice/in/msg", b"one")
    backend.publish("chat/u/alice/in/ack", b"two")
    first, second = alice.expect(), alice.expect()
    assert [(first.payload, first.qos), (second.payload, second.qos)] == [(b"one", 1), (b"two", 0)]


def test_qos_2_is_granted_as_qos_1(peer: Callable[..., Peer]) -> None:
    assert peer("alice").connected().subscribe("chat/u/alice/in/#", qos=2) == 1


def test_an_unsubscribed_filter_gets_nothing_more(
    broker: RunningBroker, peer: Callable[..., Peer], backend: Peer
) -> None:
    alice = peer("alice").connected()
    alice.subscribe("chat/u/alice/in/msg")
    alice.subscribe("chat/u/alice/in/ack")
    alice.unsubscribe("chat/u/alice/in/msg")
    backend.publish("chat/u/alice/in/msg", b"not for you")
    backend.publish("chat/u/alice/in/ack", b"for you")
    assert alice.expect().payload == b"for you"
    assert "chat/u/alice/in/msg" not in broker.call(lambda amqtt: set(amqtt.subscriptions))


def test_filters_go_with_their_session(broker: RunningBroker, peer: Callable[..., Peer]) -> None:
    alice = peer("alice").connected()  # a clean session: it ends with the connection
    alice.subscribe("chat/u/alice/in/#")
    alice.subscribe("presence/bob")
    assert broker.call(lambda amqtt: set(amqtt.subscriptions)) == {
        "chat/u/alice/in/#",
        "presence/bob",
    }
    alice.close()
    assert broker.wait_until(lambda amqtt: not amqtt.subscriptions and not amqtt.sessions)
    assert broker.call(lambda amqtt: amqtt._topic_index.matching("chat/u/alice/in/msg")) == []


def test_subscribing_again_changes_the_qos(peer: Callable[..., Peer], backend: Peer) -> None:
    alice = peer("alice").connected()
    assert alice.subscribe("chat/u/alice/in/#", qos=1) == 1
    assert alice.subscribe("chat/u/alice/in/#", qos=0) == 0
    backend.publish("chat/u/alice/in/msg", b"now at QoS 0")
    assert alice.expect().qos == 0


@pytest.mark.parametrize(
    ("topic_filter", "prefix"),
    [
        ("chat/u/alice/in/#", "chat/u/alice/in"),
        ("chat/u/+/send", "chat/u"),
        ("+/x", ""),
        ("#", ""),
        ("presence/bob", "presence/bob"),
    ],
)
def test_every_matching_topic_starts_with_the_filters_literal_prefix(
    topic_filter: str, prefix: str
) -> None:
    assert literal_prefix(topic_filter) == prefix

"""Routing: QoS, offline queues, retained messages, `$` topics, failing plugins.

Every `test_fault_*` here fails against stock amqtt (AMQTT_STOCK=1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from amqtt.mqtt.connack import NOT_AUTHORIZED

from backend.accounts import BACKEND_CLIENT_ID, BACKEND_USERNAME
from broker.config import AUTH_PLUGIN, TOPIC_PLUGIN
from tests.broker.raw import RawClient
from tests.broker.support import Accounts, Peer, RunningBroker, broker_settings

TEST_PLUGINS = "tests.broker.plugins_for_tests"


def test_fault_08_publish_to_a_dollar_topic_is_dropped_and_the_connection_goes_on(
    peer: Callable[..., Peer], backend: Peer
) -> None:
    backend.subscribe("chat/u/+/send")
    alice = peer("alice").connected()
    # amqtt stopped handling this connection's messages, silently.
    alice.publish("$SYS/broker/uptime", b"forged")
    alice.publish("chat/u/alice/send", b"after it")
    assert backend.expect().payload == b"after it"


def test_fault_09_delivery_qos_is_the_lower_of_publish_and_subscription(
    peer: Callable[..., Peer], backend: Peer
) -> None:
    assert backend.subscribe("chat/u/+/typing", qos=1) == 1
    alice = peer("alice").connected()
    # amqtt delivered at the subscription's QoS: typing at QoS 0 came out at QoS 1.
    alice.publish("chat/u/alice/typing", b"typing", qos=0)
    assert backend.expect().qos == 0
    alice.publish("chat/u/alice/typing", b"typing", qos=1)
    assert backend.expect().qos == 1


def test_fault_09_a_will_is_delivered_at_most_at_the_subscription_qos(
    peer: Callable[..., Peer], backend: Peer
) -> None:
    assert backend.subscribe("chat/u/+/presence", qos=0) == 0
    will = ("chat/u/alice/presence", b'{"state":"offline"}', 1)
    peer("alice", will=will).connected().drop()
    assert backend.expect().qos == 0


def test_fault_09_queued_messages_come_back_in_order_without_retain(
    broker: RunningBroker, peer: Callable[..., Peer], backend: Peer
) -> None:
    alice = peer("alice", client_id="alice:phone", clean_session=False).connected()
    alice.subscribe("chat/u/alice/in/#")
    alice.close()
    assert broker.went_offline("alice:phone")
    for n in range(3):
        backend.publish("chat/u/alice/in/msg", b"queued %d" % n)

    # amqtt replayed them with RETAIN 1, as if they were the topic's retained message.
    again = peer("alice", client_id="alice:phone", clean_session=False)
    assert again.connect() == (0, True)
    got = [again.expect() for _ in range(3)]
    assert [(m.payload, m.retain, m.qos) for m in got] == [
        (b"queued %d" % n, False, 1) for n in range(3)
    ]


def test_fault_10_the_offline_queue_keeps_only_the_newest_messages(
    broker: RunningBroker, peer: Callable[..., Peer], backend: Peer
) -> None:
    alice = peer("alice", client_id="alice:phone", clean_session=False).connected()
    alice.subscribe("chat/u/alice/in/#")
    alice.close()
    assert broker.went_offline("alice:phone")
    for n in range(8):  # the test broker queues 5
        backend.publish("chat/u/alice/in/msg", b"%d" % n)

    again = peer("alice", client_id="alice:phone", clean_session=False)
    assert again.connect() == (0, True)
    assert [again.expect().payload for _ in range(5)] == [b"3", b"4", b"5", b"6", b"7"]
    backend.publish("chat/u/alice/in/msg", b"live")
    assert again.expect().payload == b"live"


def test_qos0_messages_are_not_queued_for_an_offline_session(
    broker: RunningBroker, peer: Callable[..., Peer], backend: Peer
) -> None:
    alice = peer("alice", client_id="alice:phone", clean_session=False).connected()
    alice.subscribe("chat/u/alice/in/#")
    alice.close()
    assert broker.went_offline("alice:phone")
    backend.publish("chat/u/alice/in/typing", b"gone", qos=0)
    backend.publish("chat/u/alice/in/msg", b"kept", qos=1)
    again = peer("alice", client_id="alice:phone", clean_session=False)
    assert again.connect() == (0, True)
    assert again.expect().payload == b"kept"


def test_a_retained_presence_reaches_a_new_subscriber(
    peer: Callable[..., Peer], backend: Peer
) -> None:
    backend.publish("presence/alice", b'{"state":"online"}', retain=True)
    bob = peer("bob").connected()
    assert bob.subscribe("presence/alice") == 1
    message = bob.expect()
    assert (message.payload, message.retain) == (b'{"state":"online"}', True)


def test_a_client_cannot_leave_a_retained_message(peer: Callable[..., Peer], backend: Peer) -> None:
    alice = peer("alice").connected()
    alice.publish("chat/u/alice/presence", b"stale", retain=True)
    # Kept, it would reach the backend as a fresh request each time it subscribes.
    backend.subscribe("chat/u/+/presence")
    alice.publish("chat/u/alice/presence", b"live")  # sent after any retained one would be
    message = backend.expect()
    assert (message.payload, message.retain) == (b"live", False)


@pytest.fixture
def logged_errors(caplog: pytest.LogCaptureFixture) -> Callable[[str], bool]:
    caplog.set_level(logging.ERROR)

    def logged(text: str) -> bool:
        return any(
            record.levelno >= logging.ERROR
            and record.name.startswith("broker")  # not asyncio's "never retrieved", at GC
            and record.exc_info is not None
            and text in str(record.exc_info[1])
            for record in caplog.records
        )

    return logged


def plugin_broker(accounts: Accounts, *plugins: str) -> RunningBroker:
    config = {
        path: {"data_dir": str(accounts.data_dir), "db_path": str(accounts.data_dir / "mqchat.db")}
        if path == AUTH_PLUGIN
        else {"db_path": str(accounts.data_dir / "mqchat.db")}
        if path == TOPIC_PLUGIN
        else {}
        for path in plugins
    }
    return RunningBroker(broker_settings(accounts.data_dir), plugins=config)


def test_fault_12_a_failing_auth_plugin_is_logged_and_refuses(
    accounts: Accounts, logged_errors: Callable[[str], bool]
) -> None:
    broker = plugin_broker(accounts, f"{TEST_PLUGINS}.FailingAuth", TOPIC_PLUGIN)
    client = RawClient(broker.port)
    try:
        # amqtt let the exception escape: no CONNACK, and nothing in the log.
        assert client.connect("alice", "alice", accounts.token["alice"]) == NOT_AUTHORIZED
        assert logged_errors("auth plugin failure")
    finally:
        client.close()
        broker.stop()


def test_fault_12_a_failing_topic_plugin_is_logged_and_refuses(
    accounts: Accounts, logged_errors: Callable[[str], bool]
) -> None:
    broker = plugin_broker(accounts, AUTH_PLUGIN, f"{TEST_PLUGINS}.FailingOnSubscribe")
    alice = Peer(broker.port, "alice", accounts.token["alice"])
    try:
        alice.connected()
        assert alice.subscribe("chat/u/alice/in/#") == 0x80
        assert logged_errors("topic plugin failure")
    finally:
        alice.close()
        broker.stop()


def test_fault_12_a_failing_event_handler_is_logged(
    accounts: Accounts, logged_errors: Callable[[str], bool]
) -> None:
    broker = plugin_broker(
        accounts, AUTH_PLUGIN, TOPIC_PLUGIN, f"{TEST_PLUGINS}.FailingOnConnected"
    )
    alice = Peer(broker.port, "alice", accounts.token["alice"])
    try:
        alice.connected()
        # amqtt printed it only with its logger at DEBUG.
        assert broker.wait_until(lambda amqtt: logged_errors("event handler failure"))
    finally:
        alice.close()
        broker.stop()


def test_fault_04_a_will_is_refused_where_its_client_may_not_publish(
    accounts: Accounts,
) -> None:
    # An auth plugin that accepts any will: only the broker's own check stands in the way.
    broker = plugin_broker(accounts, f"{TEST_PLUGINS}.AllowAnyone", TOPIC_PLUGIN)
    bob = Peer(broker.port, "bob", accounts.token["bob"])
    client = RawClient(broker.port)
    try:
        bob.connected().subscribe("chat/u/bob/in/#")
        will = ("chat/u/bob/in/msg", b"forged message", 1)
        # amqtt accepted it, and published the will to bob when the socket dropped.
        assert client.connect("eve", "eve", "x", will=will) == NOT_AUTHORIZED
    finally:
        client.close()
        bob.close()
        broker.stop()


def test_the_backend_is_queued_more_than_a_user(
    broker: RunningBroker, peer: Callable[..., Peer], accounts: Accounts
) -> None:
    def backend() -> Peer:
        return peer(
            BACKEND_USERNAME,
            accounts.backend_password,
            client_id=BACKEND_CLIENT_ID,
            clean_session=False,
        )

    away = backend().connected()
    away.subscribe("chat/u/+/send")
    away.close()
    assert broker.went_offline(BACKEND_CLIENT_ID)
    alice = peer("alice").connected()
    for n in range(8):  # a user's session would keep 5
        alice.publish("chat/u/alice/send", b"%d" % n)
    back = backend()
    assert back.connect() == (0, True)
    assert [back.expect().payload for _ in range(8)] == [b"%d" % n for n in range(8)]


def test_a_qos2_publish_is_delivered_once(peer: Callable[..., Peer], backend: Peer) -> None:
    backend.subscribe("chat/u/+/send", qos=1)
    alice = peer("alice").connected()
    alice.publish("chat/u/alice/send", b"exactly once", qos=2)
    alice.publish("chat/u/alice/send", b"marker", qos=1)
    assert [backend.expect().payload for _ in range(2)] == [b"exactly once", b"marker"]

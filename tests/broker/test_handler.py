"""One connection's reading and in-flight messages: keep-alive, redelivery.

Every `test_fault_*` here fails against stock amqtt (AMQTT_STOCK=1).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from broker.outbox import MAX_INFLIGHT
from tests.broker.raw import RawClient, connect_packet
from tests.broker.support import Accounts, Peer

OFFLINE = b'{"state":"offline"}'
PINGREQ = b"\xc0\x00"
PINGRESP = 0xD0


def test_fault_06_a_silent_client_is_disconnected_and_its_will_published(
    accounts: Accounts, raw: Callable[[], RawClient], backend: Peer
) -> None:
    backend.subscribe("chat/u/+/presence")
    silent = raw()
    will = ("chat/u/alice/presence", OFFLINE, 1)
    code = silent.connect("alice:phone", "alice", accounts.token["alice"], keepalive=1, will=will)
    assert code == 0
    started = time.monotonic()

    # amqtt noticed the silence, logged it, and waited on.
    message = backend.expect(timeout=4)
    detected_after = time.monotonic() - started
    assert (message.topic, message.payload) == ("chat/u/alice/presence", OFFLINE)
    assert 1.4 <= detected_after < 2.5  # 1.5 x keep-alive [MQTT-3.1.2-24]
    assert silent.closed_by_broker(timeout=1)


def test_a_client_that_pings_within_its_keepalive_stays(
    accounts: Accounts, raw: Callable[[], RawClient]
) -> None:
    client = raw()
    assert client.connect("alice:phone", "alice", accounts.token["alice"], keepalive=1) == 0
    for _ in range(4):  # 2 s in all, past 1.5 x keep-alive
        time.sleep(0.5)  # the client's own pace, which is what is under test
        client.send(PINGREQ)
        received = client.read_packet(timeout=2)
        assert received is not None
        assert received[0] == PINGRESP


def test_keepalive_zero_means_no_timeout(accounts: Accounts, raw: Callable[[], RawClient]) -> None:
    client = raw()
    assert client.connect("alice:phone", "alice", accounts.token["alice"], keepalive=0) == 0
    assert not client.closed_by_broker(timeout=1)


def test_fault_10_an_unacknowledged_message_is_sent_again_after_reconnect(
    peer: Callable[..., Peer], backend: Peer
) -> None:
    forgetful = peer("alice", client_id="alice:phone", clean_session=False, manual_ack=True)
    forgetful.connected().subscribe("chat/u/alice/in/#")
    backend.publish("chat/u/alice/in/msg", b"please ack")
    first = forgetful.expect()
    assert (first.payload, first.dup) == (b"please ack", False)
    forgetful.drop()  # gone before sending its PUBACK

    # amqtt dropped the message when the connection ended.
    again = peer("alice", client_id="alice:phone", clean_session=False)
    assert again.connect() == (0, True)
    resent = again.expect()
    assert (resent.payload, resent.mid, resent.dup) == (b"please ack", first.mid, True)


def test_an_acknowledged_message_is_not_sent_again(
    peer: Callable[..., Peer], backend: Peer
) -> None:
    alice = peer("alice", client_id="alice:phone", clean_session=False).connected()
    alice.subscribe("chat/u/alice/in/#")
    backend.publish("chat/u/alice/in/msg", b"once")
    assert alice.expect().payload == b"once"
    alice.close()  # paho acked it before its clean DISCONNECT

    again = peer("alice", client_id="alice:phone", clean_session=False)
    assert again.connect() == (0, True)
    backend.publish("chat/u/alice/in/msg", b"next")
    assert again.expect().payload == b"next"


def test_a_clean_disconnect_publishes_no_will(
    peer: Callable[..., Peer], backend: Peer, raw: Callable[[], RawClient], accounts: Accounts
) -> None:
    backend.subscribe("chat/u/+/presence")
    backend.subscribe("chat/u/+/send")
    client = raw()
    will = ("chat/u/alice/presence", OFFLINE, 1)
    # CONNECT and DISCONNECT in one write: the DISCONNECT may be read before the broker
    # starts waiting for it, which amqtt took for a dropped connection.
    client.send(
        connect_packet("alice:1", "alice", accounts.token["alice"], will=will) + b"\xe0\x00"
    )
    assert client.closed_by_broker()
    marker = peer("alice", client_id="alice:2").connected()
    marker.publish("chat/u/alice/send", b"marker")
    assert backend.expect().payload == b"marker"


def test_a_client_gets_at_most_a_window_of_unacknowledged_messages(
    peer: Callable[..., Peer], backend: Peer
) -> None:
    slow = peer("alice", manual_ack=True).connected()
    slow.subscribe("chat/u/alice/in/#")
    for n in range(MAX_INFLIGHT + 1):
        backend.publish("chat/u/alice/in/msg", b"%d" % n)
    backend.publish("chat/u/alice/in/typing", b"after them", qos=0)  # not held back
    received = [slow.expect() for _ in range(MAX_INFLIGHT + 1)]
    assert [m.payload for m in received] == [b"%d" % n for n in range(MAX_INFLIGHT)] + [
        b"after them"
    ]
    slow.client.ack(received[0].mid, 1)
    assert slow.expect().payload == b"%d" % MAX_INFLIGHT

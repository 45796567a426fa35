"""The connection lifecycle: refused CONNECTs touch nothing, takeovers, timeouts, limits.

Every `test_fault_*` here fails against stock amqtt (AMQTT_STOCK=1).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from amqtt.mqtt.connack import NOT_AUTHORIZED

from tests.broker.raw import RawClient, connect_packet, subscribe_packet
from tests.broker.support import Accounts, Peer, RunningBroker, broker_settings

OFFLINE = (b'{"state":"offline"}', 1)


def test_fault_01_refused_connect_keeps_an_offline_victims_session(
    broker: RunningBroker, peer: Callable[..., Peer], raw: Callable[[], RawClient], backend: Peer
) -> None:
    victim = peer("alice", client_id="alice:phone", clean_session=False).connected()
    victim.subscribe("chat/u/alice/in/#")
    victim.close()
    assert broker.went_offline("alice:phone")

    # clean session: amqtt deleted the victim's session before asking the auth plugin.
    attacker = raw()
    assert attacker.connect("alice:phone", "alice", "wrong", clean=True) == NOT_AUTHORIZED

    backend.publish("chat/u/alice/in/msg", b"queued while away")
    again = peer("alice", client_id="alice:phone", clean_session=False)
    assert again.connect() == (0, True)
    assert again.expect().payload == b"queued while away"


def test_fault_01_refused_connect_leaves_a_connected_victim_alone(
    peer: Callable[..., Peer], raw: Callable[[], RawClient], backend: Peer
) -> None:
    victim = peer(
        "alice", client_id="alice:phone", will=("chat/u/alice/presence", *OFFLINE)
    ).connected()
    victim.subscribe("chat/u/alice/in/#")
    watcher = peer("bob").connected()
    watcher.subscribe("presence/alice")
    backend.subscribe("chat/u/+/presence")
    backend.subscribe("chat/u/+/send")

    # amqtt took the victim's session over, will and all, and then refused the CONNECT.
    attacker = raw()
    code = attacker.connect(
        "alice:phone", "alice", "wrong", clean=False, will=("presence/alice", b"forged", 1)
    )
    assert code == NOT_AUTHORIZED

    victim.publish("chat/u/alice/send", b"still here")
    assert backend.expect().payload == b"still here"  # nothing (no will) came before it
    backend.publish("chat/u/alice/in/msg", b"still yours")
    assert victim.expect().payload == b"still yours"
    assert not victim.closed.is_set()
    assert watcher.no_message()


def test_fault_02_refused_connects_leave_no_session(
    broker: RunningBroker, raw: Callable[[], RawClient]
) -> None:
    attempts = [
        ("alice:1", "alice", "wrong"),
        ("eve", "alice", "wrong"),
        ("nobody", "nobody", "whatever"),
        ("alice", None, None),
        ("Bad Id", "alice", "wrong"),
    ]
    for client_id, username, password in attempts * 4:
        client = raw()
        assert client.connect(client_id, username, password, clean=False) == NOT_AUTHORIZED
        assert client.closed_by_broker()
    assert broker.call(lambda amqtt: len(amqtt.sessions)) == 0


def test_fault_03_connect_gets_no_retained_message_of_others_subscriptions(
    peer: Callable[..., Peer], backend: Peer
) -> None:
    backend.publish("presence/alice", b'{"state":"online"}', retain=True)
    friend = peer("bob").connected()
    assert friend.subscribe("presence/alice") == 1
    assert friend.expect().retain

    # amqtt sent each newcomer every retained message matching anyone's subscription.
    stranger = peer("eve").connected()
    stranger.subscribe("chat/u/eve/in/#")  # its SUBACK comes after anything sent on CONNECT
    assert stranger.no_message()


def test_fault_07_reconnect_with_the_same_client_id_leaves_the_new_connection_working(
    broker: RunningBroker, peer: Callable[..., Peer], backend: Peer
) -> None:
    backend.subscribe("chat/u/+/presence")
    will = ("chat/u/alice/presence", *OFFLINE)
    old = peer("alice", client_id="alice:phone", clean_session=False, will=will).connected()
    old.subscribe("chat/u/alice/in/#")

    new = peer("alice", client_id="alice:phone", clean_session=False, will=will)
    assert new.connect() == (0, True)
    assert old.closed.wait(5)
    # [MQTT-3.1.2-8]: the old connection ended without DISCONNECT, so its will goes out.
    assert backend.expect().payload == OFFLINE[0]

    backend.publish("chat/u/alice/in/msg", b"to the new connection")
    assert new.expect().payload == b"to the new connection"
    state = broker.call(lambda amqtt: amqtt.sessions["alice:phone"][0].transitions.state)
    assert state == "connected"
    new.close()
    assert broker.went_offline("alice:phone")
    # A clean DISCONNECT: no will this time. Any will would be queued before this one.
    peer("bob").connected().publish("chat/u/bob/presence", b"marker")
    assert backend.expect().payload == b"marker"


def test_connect_timeout_closes_a_silent_socket(raw: Callable[[], RawClient]) -> None:
    silent = raw()
    started = time.monotonic()
    assert silent.closed_by_broker(timeout=3)
    assert time.monotonic() - started < 2  # the test broker's connect timeout is 0.5 s


def test_connect_timeout_closes_a_half_sent_connect(raw: Callable[[], RawClient]) -> None:
    slow = raw()
    slow.send(b"\x10\x20\x00\x04MQ")  # a CONNECT that never completes
    assert slow.closed_by_broker(timeout=3)


def test_connection_limit_closes_the_extra_connection(accounts: Accounts) -> None:
    broker = RunningBroker(
        broker_settings(accounts.data_dir, max_connections=2, connect_timeout_s=10)
    )
    clients = [RawClient(broker.port) for _ in range(3)]
    try:
        assert clients[0].connect("alice:1", "alice", accounts.token["alice"]) == 0
        assert clients[1].connect("alice:2", "alice", accounts.token["alice"]) == 0
        # amqtt left the third socket open and unanswered until a slot freed up.
        clients[2].send(b"\x10\x00")
        assert clients[2].closed_by_broker(timeout=3)
    finally:
        for client in clients:
            client.close()
        broker.stop()


def test_connects_racing_for_one_client_id_leave_exactly_one_connected(
    broker: RunningBroker, accounts: Accounts, raw: Callable[[], RawClient]
) -> None:
    clients = [raw() for _ in range(5)]
    token = accounts.token["alice"]
    for client in clients:  # all sent before any CONNACK is read
        client.send(connect_packet("alice:phone", "alice", token, clean=False))
    for client in clients:
        received = client.read_packet()
        assert received is not None
        assert received[0] == 0x20
    survivors = [client for client in clients if not client.closed_by_broker(timeout=0.5)]
    assert len(survivors) == 1
    survivors[0].send(subscribe_packet(1, [("chat/u/alice/in/#", 1)]))
    assert survivors[0].read_packet() == (0x90, b"\x00\x01\x01")
    assert broker.call(lambda amqtt: [s.transitions.state for s, _ in amqtt.sessions.values()]) == [
        "connected"
    ]

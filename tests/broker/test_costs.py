"""What a connection, a SUBSCRIBE, a message and a shutdown cost, counted rather than timed.

Each `test_cost_*` fails against stock amqtt (AMQTT_STOCK=1): there a CONNECT walks
every subscription of every client, a SUBSCRIBE formats the whole subscription table,
a message starts a dozen tasks, and shutting down n sessions walks every filter for
each of them (O(n^2): 10,000 sessions took over 25 s).
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from amqtt.session import Session

from tests.broker.raw import RawClient, subscribe_packet
from tests.broker.support import Accounts, Peer, RunningBroker, broker_settings

SUBACK = 0x90
SESSIONS = 40


@pytest.fixture
def connections(broker: RunningBroker, accounts: Accounts) -> Iterator[list[RawClient]]:
    """SESSIONS persistent connections of alice, each subscribed to a filter of its own."""
    clients = [subscribed(broker.port, accounts, n) for n in range(SESSIONS)]
    yield clients
    for client in clients:
        client.close()


def subscribed(port: int, accounts: Accounts, n: int) -> RawClient:
    client = RawClient(port)
    assert client.connect(f"alice:{n}", "alice", accounts.token["alice"], clean=False) == 0
    client.send(subscribe_packet(1, [(f"chat/u/alice/in/{n}", 1)]))
    received = client.read_packet()
    assert received is not None and received[0] == SUBACK
    return client


def count_calls(broker: RunningBroker, method: str) -> list[int]:
    """Count calls of the broker's `method` from now on: the list holds the count."""
    calls = [0]

    def install(amqtt: Any) -> None:
        original = getattr(amqtt, method)

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[0] += 1
            return original(*args, **kwargs)

        setattr(amqtt, method, counted)  # shadows the class's method for `self.<method>`

    broker.call(install)
    return calls


def test_cost_a_connect_does_not_walk_other_clients_subscriptions(
    broker: RunningBroker, accounts: Accounts, connections: list[RawClient]
) -> None:
    walked = count_calls(broker, "_publish_retained_messages_for_subscription")
    newcomer = RawClient(broker.port)
    try:
        assert newcomer.connect("bob", "bob", accounts.token["bob"]) == 0
        # Its SUBACK comes after anything the broker did for the CONNECT.
        newcomer.send(subscribe_packet(1, [("chat/u/bob/in/#", 1)]))
        received = newcomer.read_packet()
        assert received is not None and received[0] == SUBACK
    finally:
        newcomer.close()
    # Once, for its own new subscription; amqtt also looked for retained messages
    # under each of the SESSIONS filters of other clients.
    assert walked[0] == 1


def test_cost_a_subscribe_does_not_format_the_subscription_table(
    broker: RunningBroker,
    accounts: Accounts,
    connections: list[RawClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    formatted = [0]
    session_repr = Session.__repr__

    def counted_repr(session: Session) -> str:
        formatted[0] += 1
        return session_repr(session)

    monkeypatch.setattr(Session, "__repr__", counted_repr)
    subscribed(broker.port, accounts, SESSIONS).close()
    # amqtt logged repr(self._subscriptions) at DEBUG after each SUBSCRIBE, log level or not.
    assert formatted[0] < SESSIONS


def test_cost_relaying_a_message_starts_no_task(
    broker: RunningBroker, peer: Callable[..., Peer], backend: Peer
) -> None:
    backend.subscribe("chat/u/+/send")
    alice = peer("alice").connected()
    alice.publish("chat/u/alice/send", b"warm-up")
    backend.expect()
    started: list[str] = []

    def counting_factory(loop: Any, coro: Any, **kwargs: Any) -> Any:
        started.append(coro.__qualname__)
        return asyncio.Task(coro, loop=loop, **kwargs)

    broker.call(lambda amqtt: broker.loop.set_task_factory(counting_factory))
    for n in range(20):
        alice.publish("chat/u/alice/send", b"%d" % n)
    assert [backend.expect().payload for _ in range(20)] == [b"%d" % n for n in range(20)]
    broker.call(lambda amqtt: broker.loop.set_task_factory(None))
    # Plugins' event handlers run as tasks (amqtt's contract for them); nothing else does.
    ours = [
        name
        for name in started
        if not name.startswith(("PluginManager.fire_event", "RunningBroker.call"))
    ]
    assert ours == []


def test_cost_shutdown_of_n_sessions_is_linear(accounts: Accounts) -> None:
    broker = RunningBroker(broker_settings(accounts.data_dir))
    clients = []
    try:
        clients = [subscribed(broker.port, accounts, n) for n in range(SESSIONS)]
        removals = count_calls(broker, "_del_subscription")
    finally:
        broker.stop()
        for client in clients:
            client.close()
    # One removal per filter; amqtt tried every filter for every session: SESSIONS^2.
    assert SESSIONS <= removals[0] <= 2 * SESSIONS


def test_cost_an_idle_connection_takes_little_memory(
    broker: RunningBroker, accounts: Accounts
) -> None:
    gc.collect()
    tracemalloc.start()
    clients = []
    try:
        before = tracemalloc.get_traced_memory()[0]
        clients = [subscribed(broker.port, accounts, n) for n in range(SESSIONS)]
        gc.collect()
        per_connection = (tracemalloc.get_traced_memory()[0] - before) / SESSIONS
    finally:
        tracemalloc.stop()
        for client in clients:
            client.close()
    # Python's allocations, both ends of the socket: about 15 KB here, 53 KB with amqtt's.
    assert per_connection < 24 * 1024, per_connection

"""`BrokerSession`: amqtt's session moves and queue, without `transitions` or asyncio queues."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from transitions import MachineError

from broker.session import BrokerSession, MessageQueue


def test_a_session_moves_as_amqtts_machine_did() -> None:
    session = BrokerSession()
    assert session.transitions.state == "new"
    session.transitions.connect()
    assert session.transitions.is_connected()
    assert session.last_connect_time is not None
    assert session.last_disconnect_time is None
    with pytest.raises(MachineError):
        session.transitions.connect()
    session.transitions.disconnect()
    assert session.transitions.state == "disconnected"
    assert session.last_disconnect_time is not None
    session.transitions.disconnect()  # allowed again, as in amqtt
    session.transitions.connect()
    assert session.last_disconnect_time is None


def test_a_new_session_can_be_disconnected() -> None:
    session = BrokerSession()
    session.transitions.disconnect()  # amqtt's offline sessions start this way
    assert session.transitions.is_disconnected()


def test_the_queue_is_first_in_first_out_and_holds_nothing_when_empty() -> None:
    queue = MessageQueue()
    assert queue.empty() and queue.qsize() == 0
    for n in range(3):
        queue.put_nowait(n)
    assert queue.qsize() == 3
    assert [queue.get_nowait() for _ in range(3)] == [0, 1, 2]
    assert queue._items is None  # the deque goes with the last item
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_the_queue_takes_amqtts_awaited_put() -> None:
    queue = MessageQueue()
    await queue.put("m")
    assert queue.get_nowait() == "m"


def test_amqtts_clear_queues_empties_them() -> None:
    session = BrokerSession()
    session.retained_messages.put_nowait("queued")
    session.delivered_message_queue.put_nowait("delivered")
    session.clear_queues()
    assert session.retained_messages.empty()
    assert session.delivered_message_queue.empty()


def test_a_session_survives_pickling_as_amqtts_does() -> None:
    session = BrokerSession()
    session.client_id = "alice:phone"
    session.transitions.connect()
    copy = pickle.loads(pickle.dumps(session))
    assert copy.client_id == "alice:phone"
    assert copy.transitions.is_connected()
    assert copy.retained_messages.empty()

"""A connection's inbox: messages for one reader, and when each PUBACK is due."""

from __future__ import annotations

import asyncio

from backend.mqtt.encode import encode_puback
from backend.mqtt.inbox import Inbox
from backend.mqtt.packets import Publish


def message(packet_id: int | None) -> Publish:
    qos = 0 if packet_id is None else 1
    return Publish("chat/u/alice/send", b"%d" % (packet_id or 0), qos, packet_id=packet_id)


async def test_without_manual_ack_a_qos1_message_is_acknowledged_on_receipt() -> None:
    inbox = Inbox(manual_ack=False)
    assert inbox.put(message(7)) == encode_puback(7)
    assert inbox.put(message(None)) == b""
    assert inbox.handled(message(7)) == b""
    assert [await inbox.get(), await inbox.get()] == [message(7), message(None)]


async def test_with_manual_ack_pubacks_wait_for_handling_and_keep_arrival_order() -> None:
    inbox = Inbox(manual_ack=True)
    first, second, third = message(1), message(2), message(3)
    assert [inbox.put(first), inbox.put(second), inbox.put(third)] == [b"", b"", b""]
    assert inbox.handled(third) == b""
    assert inbox.handled(first) == encode_puback(1)
    assert inbox.handled(second) == encode_puback(2) + encode_puback(3)
    assert inbox.handled(message(None)) == b""


async def test_a_reader_waits_for_a_message_and_ends_after_close() -> None:
    inbox = Inbox(manual_ack=True)
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put(message(1))
    assert await reader == message(1)
    waiting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put(message(2))
    inbox.close()
    assert await waiting == message(2)  # what came before the close is still handed out
    assert await inbox.get() is None
    assert inbox.handled(message(2)) == b""  # too late: the broker sends it again

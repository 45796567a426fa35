"""The sending side of a connection: window, queue, resume, corking, slow readers."""

from __future__ import annotations

import asyncio

from broker.outbox import MAX_BUFFERED_BYTES, MAX_INFLIGHT, Outbox, enqueue, queued
from broker.session import BrokerSession

TOPIC = "chat/u/alice/in/msg"


class FakeTransport:
    def __init__(self) -> None:
        self.buffered = 0
        self.closing = False

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing


class FakeStream:
    def __init__(self) -> None:
        self.transport = FakeTransport()


class FakeWriter:
    """Records each write: amqtt's StreamWriterAdapter, as far as the Outbox uses it."""

    def __init__(self) -> None:
        self._writer = FakeStream()
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)


def make_outbox(limit: int = 1000) -> tuple[Outbox, FakeWriter, BrokerSession]:
    session = BrokerSession()
    session.client_id = "alice"
    writer = FakeWriter()
    return Outbox(session, writer, limit), writer, session


def publishes(writer: FakeWriter) -> list[tuple[int, bytes]]:
    """(first byte, payload) of each PUBLISH written, assuming topic TOPIC."""
    data = b"".join(writer.writes)
    found = []
    while data:
        first, length, offset = data[0], 0, 1
        for shift in range(0, 28, 7):
            byte = data[offset]
            offset += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
        body = data[offset : offset + length]
        data = data[offset + length :]
        header = 2 + len(TOPIC) + (2 if first & 0x06 else 0)
        found.append((first, body[header:]))
    return found


async def turn() -> None:
    """Let the event loop run the outbox's flush."""
    await asyncio.sleep(0)


async def test_writes_of_one_turn_go_out_together() -> None:
    outbox, writer, _ = make_outbox()
    outbox.publish(TOPIC, b"1", 0, False)
    outbox.publish(TOPIC, b"2", 1, False)
    assert writer.writes == []
    await turn()
    assert len(writer.writes) == 1
    assert [payload for _, payload in publishes(writer)] == [b"1", b"2"]


async def test_qos1_waits_in_flight_until_acknowledged() -> None:
    outbox, _, session = make_outbox()
    outbox.publish(TOPIC, b"m", 1, False)
    (packet_id,) = session.inflight_out
    assert not outbox.acknowledged(packet_id + 1)
    assert outbox.acknowledged(packet_id)
    assert not session.inflight_out


async def test_the_window_holds_back_the_rest_in_order() -> None:
    outbox, writer, session = make_outbox()
    for n in range(MAX_INFLIGHT + 2):
        outbox.publish(TOPIC, b"%d" % n, 1, False)
    await turn()
    assert len(publishes(writer)) == MAX_INFLIGHT
    assert session.retained_messages.qsize() == 2
    writer.writes.clear()
    outbox.acknowledged(next(iter(session.inflight_out)))
    await turn()
    assert [payload for _, payload in publishes(writer)] == [b"%d" % MAX_INFLIGHT]


async def test_qos0_is_not_held_back_by_the_window() -> None:
    outbox, writer, _ = make_outbox()
    for n in range(MAX_INFLIGHT + 1):
        outbox.publish(TOPIC, b"%d" % n, 1, False)
    outbox.publish(TOPIC, b"typing", 0, False)
    await turn()
    assert publishes(writer)[-1] == (0x30, b"typing")


async def test_resume_sends_in_flight_with_dup_then_the_queue() -> None:
    outbox, _, session = make_outbox()
    outbox.publish(TOPIC, b"in flight", 1, False)
    outbox.close()  # the connection ends before the PUBACK
    enqueue(session, queued(TOPIC, b"queued", 1), 1000)

    writer = FakeWriter()  # the session's next connection
    Outbox(session, writer, 1000).resume()
    await turn()
    assert publishes(writer) == [(0x3A, b"in flight"), (0x32, b"queued")]  # DUP, then not


async def test_a_queued_message_keeps_its_retain_flag() -> None:
    outbox, writer, session = make_outbox()
    enqueue(session, queued(TOPIC, b"live", 1), 1000)
    enqueue(session, queued(TOPIC, b"retained", 1, retain=True), 1000)
    outbox.resume()
    await turn()
    assert publishes(writer) == [(0x32, b"live"), (0x33, b"retained")]


def test_the_queue_drops_its_oldest() -> None:
    session = BrokerSession()
    for n in range(5):
        enqueue(session, queued(TOPIC, b"%d" % n, 1), 3)
    queue = session.retained_messages
    assert [queue.get_nowait().data for _ in range(queue.qsize())] == [b"2", b"3", b"4"]


async def test_qos0_is_dropped_for_a_client_that_does_not_read() -> None:
    outbox, writer, _ = make_outbox()
    writer._writer.transport.buffered = MAX_BUFFERED_BYTES + 1
    outbox.publish(TOPIC, b"typing", 0, False)
    outbox.publish(TOPIC, b"message", 1, False)  # QoS 1 is held by the window instead
    await turn()
    assert [payload for _, payload in publishes(writer)] == [b"message"]


async def test_nothing_is_written_once_closed() -> None:
    outbox, writer, _ = make_outbox()
    outbox.publish(TOPIC, b"early", 0, False)
    outbox.close()
    assert [payload for _, payload in publishes(writer)] == [b"early"]  # flushed first
    outbox.publish(TOPIC, b"late", 0, False)
    await turn()
    assert [payload for _, payload in publishes(writer)] == [b"early"]


async def test_nothing_is_written_to_a_closing_transport() -> None:
    outbox, writer, _ = make_outbox()
    outbox.publish(TOPIC, b"lost", 0, False)
    writer._writer.transport.closing = True
    await turn()
    assert writer.writes == []

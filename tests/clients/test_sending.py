"""Sends in flight (clients.sending): how acks and error acks settle them."""

from __future__ import annotations

import pytest

from backend import wire
from clients.errors import SendError
from clients.outbox import send_request
from clients.sending import Sends


def request(request_id: str) -> dict[str, object]:
    return send_request(request_id, "hi", to="bob", conv=None, kind="text", media=None)


async def test_an_ack_resolves_the_request_and_wakes_its_caller() -> None:
    sends = Sends(None)
    _, waiter = sends.add(request("m1"))
    sends.settle(wire.Ack(id="m1", conv="dm:alice:bob", seq=1, ts=5))
    assert (await waiter).seq == 1
    assert "m1" not in sends.outbox


async def test_an_error_ack_is_final() -> None:
    sends = Sends(None)
    _, waiter = sends.add(request("m1"))
    sends.settle(wire.AckError(id="m1", error=wire.ErrorBody(code="unknown_user", message="x")))
    with pytest.raises(SendError):
        await waiter
    assert "m1" not in sends.outbox


async def test_rate_limited_keeps_the_request_for_a_retry() -> None:
    sends = Sends(None)
    _, waiter = sends.add(request("m1"))
    sends.outbox.mark_published("m1", 100.0)
    sends.settle(wire.AckError(id="m1", error=wire.ErrorBody(code="rate_limited", message="x")))
    assert not waiter.done()
    assert [p.id for p in sends.outbox.due(now=105.0, retry_interval=5.0)] == ["m1"]
    sends.settle(wire.Ack(id="m1", conv="dm:alice:bob", seq=1, ts=5))  # the retry's ack
    assert (await waiter).seq == 1


async def test_unavailable_keeps_the_request_for_a_retry() -> None:
    sends = Sends(None)
    _, waiter = sends.add(request("m1"))
    sends.outbox.mark_published("m1", 100.0)
    sends.settle(wire.AckError(id="m1", error=wire.ErrorBody(code="unavailable", message="x")))
    assert not waiter.done()
    assert [p.id for p in sends.outbox.due(now=105.0, retry_interval=5.0)] == ["m1"]

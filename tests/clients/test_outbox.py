"""Outbox bookkeeping and its file (clients.outbox)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.outbox import Outbox, OutboxFile, send_request


def request(request_id: str, text: str = "hi") -> dict[str, object]:
    return send_request(request_id, text, to="bob", conv=None, kind="text", media=None)


def test_send_request_shape() -> None:
    assert request("m1") == {"id": "m1", "kind": "text", "to": "bob", "text": "hi"}
    assert send_request("m2", None, to=None, conv="g:x", kind="image", media="md1") == {
        "id": "m2",
        "kind": "image",
        "conv": "g:x",
        "media": "md1",
    }


@pytest.mark.parametrize(("to", "conv"), [(None, None), ("bob", "dm:alice:bob")])
def test_send_request_needs_exactly_one_target(to: str | None, conv: str | None) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        send_request("m1", "hi", to=to, conv=conv, kind="text", media=None)


def test_send_request_checks_the_id() -> None:
    with pytest.raises(ValueError, match="id"):
        send_request("no spaces", "hi", to="bob", conv=None, kind="text", media=None)


def test_a_request_waits_until_resolved() -> None:
    outbox = Outbox()
    assert outbox.add(request("m1"))
    assert not outbox.add(request("m1", "other text"))  # same id: still the first request
    assert outbox.requests() == [request("m1")]
    assert outbox.resolve("m1") == request("m1")
    assert outbox.resolve("m1") is None
    assert len(outbox) == 0


def test_new_requests_are_due_at_once_then_after_the_interval() -> None:
    outbox = Outbox([request("m1"), request("m2")])
    assert [p.id for p in outbox.due(now=100.0, retry_interval=5.0)] == ["m1", "m2"]
    outbox.mark_published("m1", 100.0)
    outbox.mark_published("m2", 102.0)
    assert outbox.due(now=104.9, retry_interval=5.0) == []
    assert outbox.next_due_in(now=104.0, retry_interval=5.0) == pytest.approx(1.0)
    assert [p.id for p in outbox.due(now=105.0, retry_interval=5.0)] == ["m1"]
    assert [p.id for p in outbox.due(now=107.0, retry_interval=5.0)] == ["m1", "m2"]


def test_reconnect_makes_everything_due() -> None:
    outbox = Outbox([request("m1")])
    outbox.mark_published("m1", 100.0)
    outbox.mark_all_due()
    assert [p.id for p in outbox.due(now=100.1, retry_interval=5.0)] == ["m1"]
    assert outbox.next_due_in(now=100.1, retry_interval=5.0) == 0.0


def test_empty_outbox_has_nothing_due() -> None:
    assert Outbox().next_due_in(now=1.0, retry_interval=5.0) is None


def test_file_roundtrip(tmp_path: Path) -> None:
    file = OutboxFile(tmp_path / "sub" / "outbox.json")
    assert file.load() == []
    file.save([request("m1"), request("m2")])
    assert file.load() == [request("m1"), request("m2")]
    assert sorted(p.name for p in file.path.parent.iterdir()) == ["outbox.json"]


def test_file_skips_malformed_entries(tmp_path: Path) -> None:
    path = tmp_path / "outbox.json"
    path.write_text(json.dumps({"version": 1, "pending": [request("m1"), {"id": "bad id"}, 3]}))
    assert OutboxFile(path).load() == [request("m1")]


def test_corrupt_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "outbox.json"
    path.write_text("{not json")
    assert OutboxFile(path).load() == []
    assert not path.exists()
    assert (tmp_path / "outbox.json.corrupt").read_text() == "{not json"

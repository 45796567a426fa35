"""The gateway's edge without a broker: every publication becomes an answer or the contract's error.

`Gateway.answer` is what the MQTT loop runs for each incoming PUBLISH; here it runs over a
real SQLite store, fed by hypothesis with hostile payloads on every request topic.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from backend.accounts import hash_token
from backend.gateway import BrokerAddress, Gateway
from backend.presence_service import PresenceService
from backend.service import ChatService, Outgoing
from backend.store.base import NewUser, SendCommand, Store
from backend.store.sqlite import SqliteStore
from backend.topics import ClientTopic, InboxTopic, client_topic, inbox_topic
from tests.support.hostile import hostile_requests

GROUP = "g:AAAAAAAAAAAAAAAAAAAAAA"
SEND_CODES = {
    "invalid",
    "too_large",
    "unknown_user",
    "unknown_conversation",
    "not_member",
    "media_not_found",
    "rate_limited",
}
ERROR_CODES = SEND_CODES - {"unknown_user", "media_not_found"}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await SqliteStore.open(tmp_path / "mqchat.db", durability="normal")
    await opened.add_users(
        [
            NewUser(name, f"+1000000000{index}", name, hash_token(name))
            for index, name in enumerate(["alice", "bob", "carol"])
        ],
        now=1,
    )
    await opened.create_group("alice", GROUP, "g", ["bob"], max_members=256, now=2)
    await opened.send(SendCommand("bob", "b1", "dm:alice:bob", "text", "hi", None, ts=3))
    yield opened
    await opened.close()


@pytest.fixture
def gateway(store: Store) -> Gateway:
    broker = BrokerAddress("127.0.0.1", 1, "backend", "secret", "backend")
    presence = PresenceService(store, uses_broker_events=True)
    return Gateway(broker, ChatService(store), presence)


async def snapshot(store: Store) -> list[Any]:
    """Everything a request could change: each user's conversations, seqs and marks."""
    return [await store.conversations(user) for user in ("alice", "bob", "carol")]


def decoded(item: Outgoing) -> dict[str, Any]:
    """A publication's payload: always a UTF-8 JSON object, whatever the request was."""
    document = json.loads(item.payload.decode("utf-8"))
    assert isinstance(document, dict), item
    return document


def outcome(outgoing: list[Outgoing]) -> str:
    """What a request got, for hypothesis' statistics (`--hypothesis-show-statistics`)."""
    for item in outgoing:
        body = decoded(item)
        if "error" in body:
            return str(body["error"]["code"])
    return "accepted" if outgoing else "nothing"


def check_error(body: dict[str, Any], codes: set[str]) -> None:
    assert {"code", "message"} <= set(body), body  # extensions (retry_after_ms) may follow
    assert body["code"] in codes, body
    assert isinstance(body["message"], str) and body["message"], body


def check_send_answer(user: str, outgoing: list[Outgoing]) -> bool:
    """Exactly one ack for the sender, a success or a contract error; True if an error."""
    acks = [item for item in outgoing if item.topic == inbox_topic(user, InboxTopic.ACK)]
    assert len(acks) == 1, outgoing
    ack = decoded(acks[0])
    if "error" in ack:
        assert set(ack) == {"id", "error"}, ack
        check_error(ack["error"], SEND_CODES)
        assert len(outgoing) == 1, outgoing
        return True
    assert {"id", "conv", "seq", "ts"} <= set(ack), ack
    return False


def check_other_answer(user: str, topic: str, outgoing: list[Outgoing]) -> bool:
    """An error notice on `in/error` naming the request's topic, or results; True if an error."""
    for item in outgoing:
        decoded(item)
    errors = [item for item in outgoing if item.topic == inbox_topic(user, InboxTopic.ERROR)]
    if not errors:
        return False
    assert len(outgoing) == 1, outgoing
    notice = decoded(errors[0])
    assert notice["topic"] == topic, notice
    assert notice["id"] is None or isinstance(notice["id"], str), notice
    check_error(notice["error"], ERROR_CODES)
    return True


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_every_publication_gets_an_answer_or_the_contracts_error_and_errors_change_nothing(
    gateway: Gateway, store: Store, data: st.DataObject
) -> None:
    user = data.draw(st.sampled_from(["alice", "carol"]))  # a member of everything, of nothing
    kind = data.draw(st.sampled_from(list(ClientTopic)))
    payload = data.draw(hostile_requests(kind.value))
    topic = client_topic(user, kind)
    before = await snapshot(store)
    outgoing = await gateway.answer(topic, payload)  # nothing but ChatError is translated
    if kind is ClientTopic.SEND:
        refused = check_send_answer(user, outgoing)
    else:
        refused = check_other_answer(user, topic, outgoing)
    event(f"{kind.value}: {outcome(outgoing)}")
    if refused:
        assert await snapshot(store) == before


@pytest.mark.parametrize(
    "payload",
    [
        b'{"id": "m1", "to": "bob", "text": "\\ud800"}',
        b'{"id": "m1", "to": "bob", "text": "' + "\udcff".encode("utf-8", "surrogatepass") + b'"}',
        b'{"id": "m1", "to": "bob", "text": 1' + b"0" * 5000 + b"}",
        b'{"id": "m1", "conv": "dm:alice:bob", "kind": "image", "media": "\\udfff"}',
    ],
)
async def test_sends_that_once_escaped_the_edge_get_an_invalid_ack(
    gateway: Gateway, store: Store, payload: bytes
) -> None:
    before = await snapshot(store)
    (ack,) = await gateway.answer(client_topic("alice", ClientTopic.SEND), payload)
    body = decoded(ack)
    assert (body["id"], body["error"]["code"]) == ("m1", "invalid"), body
    assert await snapshot(store) == before


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (ClientTopic.RECEIPT, b'{"conv": "dm:alice:bob", "read": 100000000000000000000}'),
        (ClientTopic.RECEIPT, b'{"conv": "dm:alice:bob", "delivered": 9223372036854775808}'),
        (ClientTopic.SYNC, b'{"id": "s1", "since": {"dm:alice:bob": 100000000000000000000}}'),
        (ClientTopic.SYNC, b'{"id": "s1", "limit": 100000000000000000000}'),
    ],
)
async def test_numbers_past_any_seq_are_clamped_not_a_crash(
    gateway: Gateway, store: Store, kind: ClientTopic, payload: bytes
) -> None:
    """A mark or cursor past the last seq is clamped (the contract); so is a huge one."""
    outgoing = await gateway.answer(client_topic("alice", kind), payload)
    assert not check_other_answer("alice", client_topic("alice", kind), outgoing), outgoing
    (conv,) = [c for c in await store.conversations("alice") if c.conv == "dm:alice:bob"]
    if kind is ClientTopic.RECEIPT:
        assert conv.mine.delivered == conv.last_seq == 1
    else:
        end = decoded(outgoing[-1])
        assert end["id"] == "s1" and end["more"] is False, end

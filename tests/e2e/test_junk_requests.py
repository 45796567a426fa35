"""Hypothesis-made request payloads through the real broker and gateway (the MQTT edge).

The broker-free version of this (tests/unit/test_gateway.py) tries many more payloads; this
one proves the whole path: every send gets its ack, every request that cannot be decoded
its notice on `in/error`, nothing changes, and the server goes on serving.
"""

from __future__ import annotations

from collections import Counter
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from backend import wire
from backend.errors import ChatError
from backend.topics import ClientTopic, InboxTopic, client_topic
from tests.support.hostile import hostile_requests
from tests.support.media_http import client
from tests.support.mqtt import connect
from tests.support.server import ServerProcess
from tests.support.serving import exchange

T = TypeVar("T")
JUNK = 150
NOTICE_CODES = {"invalid", "too_large", "not_member", "unknown_conversation", "rate_limited"}
DECODERS: dict[ClientTopic, type[wire.Inbound]] = {
    ClientTopic.SEND: wire.SendRequest,
    ClientTopic.RECEIPT: wire.ReceiptRequest,
    ClientTopic.TYPING: wire.TypingRequest,
    ClientTopic.SYNC: wire.SyncRequest,
    ClientTopic.PRESENCE: wire.PresenceRequest,
}


def draw(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """`count` values of `strategy`, drawn by hypothesis outside a property test."""
    found: list[T] = []

    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    collect()
    return found


def undecodable(kind: ClientTopic, payload: bytes) -> bool:
    try:
        wire.decode(DECODERS[kind], payload)
    except ChatError:
        return True
    return False


@pytest.fixture(scope="module")
def users(server: ServerProcess) -> dict[str, str]:
    return server.add_users(["junk-mallory", "junk-alice", "junk-bob"])


async def test_junk_requests_each_get_the_contracts_answer_and_change_nothing(
    server: ServerProcess, users: dict[str, str]
) -> None:
    mallory, alice, bob = users
    junk = draw(
        st.sampled_from(list(ClientTopic)).flatmap(
            lambda kind: st.tuples(st.just(kind), hostile_requests(kind.value))
        ),
        JUNK,
    )
    sends = sum(kind is ClientTopic.SEND for kind, _ in junk)
    must_fail = Counter(
        client_topic(mallory, kind)
        for kind, payload in junk
        if kind is not ClientTopic.SEND and undecodable(kind, payload)
    )
    async with client(server, users[mallory]) as http:
        before = (await http.get("/v1/conversations")).json()
    async with connect(server.mqtt_port, mallory, users[mallory]) as m:
        for kind, payload in junk:
            await m.publish(kind, payload, qos=1)
        acks = [await m.expect(InboxTopic.ACK) for _ in range(sends)]
        notices: Counter[str] = Counter()
        errors = m.inbox[InboxTopic.ERROR.value]
        # Decodable requests may be refused too (an unknown conversation, say): wait for
        # every undecodable one per topic, not for a total that those could make up.
        while any(notices[t] < n for t, n in must_fail.items()) or not errors.empty():
            notice = await m.expect(InboxTopic.ERROR)
            assert notice["error"]["code"] in NOTICE_CODES, notice
            notices[notice["topic"]] += 1
    # None of the payloads names a real user or conversation: every send is refused.
    for ack in acks:
        assert "error" in ack, ack
    for topic, count in must_fail.items():
        assert notices[topic] >= count, (topic, notices[topic], count)
    async with client(server, users[mallory]) as http:
        assert (await http.get("/v1/conversations")).json() == before  # nothing changed
    await exchange(server, users, alice, bob)

"""Per-user rate limits end to end: a server started with low limits from a config file.

Each kind of request is pushed past its bucket: the excess gets the contract's
`rate_limited` on the right topic (or HTTP 429 with Retry-After), stores nothing, and
a retry once the bucket has refilled succeeds; another user is never slowed down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backend.topics import ClientTopic, InboxTopic, client_topic
from tests.support.media_files import noise
from tests.support.media_http import stored_files
from tests.support.mqtt import ChatPeer, connect
from tests.support.server import ServerProcess

RATE_PER_S = 2.0  # every limited kind: 2 a second, so a refused request waits ~0.5 s
BURST = 3
FLOOD = 10  # well past the burst: at 2/s, sending these would need 3.5 s to fit
LIMITS = f"""
send_per_s = {RATE_PER_S}
send_burst = {BURST}
receipt_per_s = {RATE_PER_S}
receipt_burst = {BURST}
sync_per_s = {RATE_PER_S}
sync_burst = {BURST}
http_per_s = {RATE_PER_S}
http_burst = {BURST}
upload_per_s = 0.5
upload_burst = 1
"""


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("limited")
    config = folder / "limits.toml"
    config.write_text(LIMITS)
    process = ServerProcess(folder / "data", extra_args=["--config", str(config)])
    process.start()
    yield process
    code = process.stop()
    assert code == 0, f"server exited with {code}; log:\n{process.log()}"


@pytest.fixture
def users(limited: ServerProcess, request: pytest.FixtureRequest) -> dict[str, str]:
    """alice, bob and carol, fresh for each test (ids carry the test's name)."""
    tag = request.node.name.removeprefix("test_")[:12].replace("_", "")
    return limited.add_users([f"{name}-{tag}" for name in ("alice", "bob", "carol")])


def http(server: ServerProcess, token: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30)


async def answers(
    peer: ChatPeer, kinds: tuple[InboxTopic, ...], count: int
) -> list[dict[str, Any]]:
    """The next `count` payloads arriving on any of `kinds`, tagged with their topic."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while len(got) < count:
            for kind in kinds:
                queue = peer.inbox[kind.value]
                while not queue.empty() and len(got) < count:
                    got.append({"inbox": kind.value, **queue.get_nowait()})
            if len(got) < count:
                await asyncio.sleep(0.01)  # several queues: no one event to await
    return got


def drain(peer: ChatPeer, kind: InboxTopic) -> list[dict[str, Any]]:
    """Everything that has arrived on `in/<kind>` so far."""
    queue = peer.inbox[kind.value]
    return [queue.get_nowait() for _ in range(queue.qsize())]


async def history_texts(server: ServerProcess, token: str, conv: str) -> list[str]:
    async with http(server, token) as client:
        response = await client.get(f"/v1/conversations/{conv}/messages", params={"limit": 100})
    assert response.status_code == 200, response.text
    return [message["text"] for message in response.json()]


async def test_sends_over_the_limit_get_rate_limited_and_are_not_stored(
    limited: ServerProcess, users: dict[str, str]
) -> None:
    alice, bob, carol = users
    async with (
        connect(limited.mqtt_port, alice, users[alice]) as a,
        connect(limited.mqtt_port, carol, users[carol]) as c,
    ):
        for index in range(FLOOD):
            await a.publish(ClientTopic.SEND, {"id": f"m{index}", "to": bob, "text": f"t{index}"})
        acks = [await a.expect(InboxTopic.ACK) for _ in range(FLOOD)]
        refused = [ack for ack in acks if "error" in ack]
        accepted = [ack for ack in acks if "error" not in ack]
        assert len(accepted) >= BURST
        assert refused, "a flood past the burst must be refused in part"
        assert {ack["error"]["code"] for ack in refused} == {"rate_limited"}
        assert all(0 < ack["error"]["retry_after_ms"] <= 1000 / RATE_PER_S for ack in refused)
        assert {ack["id"] for ack in acks} == {f"m{index}" for index in range(FLOOD)}
        conv = accepted[0]["conv"]
        # Another user sends its own burst meanwhile, untouched by alice's empty bucket.
        carol_acks = [
            await c.send({"id": f"c{index}", "to": bob, "text": "hi"}) for index in range(BURST)
        ]
        assert all("seq" in ack for ack in carol_acks), carol_acks

        # Nothing refused was stored: the history holds exactly the acked sends, in seq order.
        stored = await history_texts(limited, users[bob], conv)
        assert sorted(stored) == sorted(f"t{ack['id'][1:]}" for ack in accepted)
        assert sorted(ack["seq"] for ack in accepted) == list(range(1, len(accepted) + 1))

        # Once the bucket refills, retrying a refused request (same id) stores it, once.
        retry = refused[-1]
        await asyncio.sleep(retry["error"]["retry_after_ms"] / 1000)
        again = await a.send({"id": retry["id"], "to": bob, "text": f"t{retry['id'][1:]}"})
        assert again["seq"] == len(accepted) + 1, again
        stored = await history_texts(limited, users[bob], conv)
        assert stored.count(f"t{retry['id'][1:]}") == 1


async def test_receipts_and_syncs_over_the_limit_get_rate_limited_on_in_error(
    limited: ServerProcess, users: dict[str, str]
) -> None:
    alice, bob, _ = users
    async with (
        connect(limited.mqtt_port, alice, users[alice]) as a,
        connect(limited.mqtt_port, bob, users[bob]) as b,
    ):
        conv = ""
        for index in range(BURST):
            conv = (await a.send({"id": f"m{index}", "to": bob, "text": "x"}))["conv"]
        for _ in range(BURST):
            await b.expect(InboxTopic.MSG)
        # Receipts carry an `id` (an unknown field, ignored) so that each answer names its own.
        # The burst acknowledges seq 1; the rest, past the burst, would move the mark to 3.
        for index in range(FLOOD):
            body = {"id": f"r{index}", "conv": conv, "delivered": 1 if index < BURST else BURST}
            await b.publish(ClientTopic.RECEIPT, body)
        # A barrier: requests are handled in the order published, and a refusal is answered
        # before anything is read from the store, so every refusal precedes this sync's end.
        await b.publish(ClientTopic.SYNC, {"id": "barrier"})
        assert (await b.expect(InboxTopic.SYNC))["id"] == "barrier"
        errors = drain(b, InboxTopic.ERROR)
        assert errors, "a flood of receipts past the burst must be refused in part"
        assert {e["error"]["code"] for e in errors} == {"rate_limited"}
        assert {e["topic"] for e in errors} == {client_topic(bob, ClientTopic.RECEIPT)}
        assert all(e["error"]["retry_after_ms"] > 0 for e in errors)
        refused_receipts = {e["id"] for e in errors}
        assert len(refused_receipts) == len(errors) <= FLOOD - BURST

        for index in range(FLOOD):
            await b.publish(ClientTopic.SYNC, {"id": f"s{index}", "limit": 1})
        answered = await answers(b, (InboxTopic.ERROR, InboxTopic.SYNC), FLOOD)
        refused_syncs = [got for got in answered if got["inbox"] == InboxTopic.ERROR.value]
        assert refused_syncs, "a flood of syncs past the burst must be refused in part"
        assert {e["error"]["code"] for e in refused_syncs} == {"rate_limited"}
        assert {e["topic"] for e in refused_syncs} == {client_topic(bob, ClientTopic.SYNC)}
        assert {got["id"] for got in answered} == {f"s{index}" for index in range(FLOOD)}

        # A refused receipt moved nothing: bob's mark is 3 only if one past the burst got in.
        accepted = [i for i in range(FLOOD) if f"r{i}" not in refused_receipts]
        async with http(limited, users[alice]) as client:
            marks = await _marks(client, conv)
        assert marks["all_delivered"] == (BURST if max(accepted) >= BURST else 1), accepted

        # After the refill, a receipt and a sync go through.
        await asyncio.sleep(1 / RATE_PER_S)
        await b.publish(ClientTopic.RECEIPT, {"conv": conv, "read": BURST})
        await b.publish(ClientTopic.SYNC, {"id": "after"})
        assert (await b.expect(InboxTopic.SYNC))["id"] == "after"
        event = await a.expect(InboxTopic.RECEIPT)
        while event["status"] != "read":
            event = await a.expect(InboxTopic.RECEIPT)
        assert event["seq"] == BURST


async def _marks(client: httpx.AsyncClient, conv: str) -> dict[str, int]:
    response = await client.get("/v1/conversations")
    assert response.status_code == 200, response.text
    marks: dict[str, int] = next(c["marks"] for c in response.json() if c["conv"] == conv)
    return marks


async def test_http_over_the_limit_is_429_with_retry_after(
    limited: ServerProcess, users: dict[str, str]
) -> None:
    alice, bob, _ = users
    async with http(limited, users[alice]) as client, http(limited, users[bob]) as other:
        statuses = []
        for index in range(FLOOD):
            response = await client.patch("/v1/me", json={"name": f"n{index}"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.json()["error"]["code"] == "rate_limited"
                assert int(response.headers["Retry-After"]) >= 1
                assert response.json()["error"]["retry_after_ms"] > 0
            else:
                assert response.status_code == 200, response.text
        assert 429 in statuses and statuses[:BURST] == [200] * BURST
        last_accepted = max(i for i, status in enumerate(statuses) if status == 200)
        # bob's calls are his own.
        assert (await other.get("/v1/me")).status_code == 200
        # The refused patches changed nothing; a later call is served again.
        await asyncio.sleep(1 / RATE_PER_S)
        me = await client.get("/v1/me")
        assert me.status_code == 200
        assert me.json()["name"] == f"n{last_accepted}"


async def test_uploads_have_a_stricter_limit(limited: ServerProcess, users: dict[str, str]) -> None:
    alice, bob, _ = users
    image = noise(8, 8)
    async with http(limited, users[alice]) as client, http(limited, users[bob]) as other:
        first = await client.post("/v1/media", content=image, headers={"Content-Type": "image/png"})
        assert first.status_code == 201, first.text
        files = stored_files(limited)
        second = await client.post(
            "/v1/media", content=noise(9, 9), headers={"Content-Type": "image/png"}
        )
        assert second.status_code == 429
        assert second.json()["error"]["code"] == "rate_limited"
        assert second.headers["Retry-After"] in {"1", "2"}  # 1 token at 0.5/s, rounded up
        assert stored_files(limited) == files
        # Other calls of the same user still go through (within the HTTP bucket).
        assert (await client.get("/v1/me")).status_code == 200
        assert (
            await other.post("/v1/media", content=image, headers={"Content-Type": "image/png"})
        ).status_code == 201

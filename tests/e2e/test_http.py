"""The HTTP API end to end: auth, profiles, conversations, history, receipts, errors."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import UserFactory
from tests.support.mqtt import connect
from tests.support.server import ServerProcess


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_healthz_needs_no_token_and_everything_else_does(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        assert (await http.get("/healthz")).status_code == 200
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
            response = await http.get("/v1/me", headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthorized"
        missing = await http.get("/v1/nothing-here", headers=bearer("x"))
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"


async def test_profiles(server: ServerProcess, make_users: UserFactory) -> None:
    tokens = make_users("alice", "bob")
    alice, bob = tokens
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(tokens[alice])) as http:
        me = (await http.get("/v1/me")).json()
        assert (me["id"], me["name"]) == (alice, alice)
        patched = await http.patch("/v1/me", json={"name": "Alice A.", "about": "hi there"})
        assert patched.status_code == 200
        assert (patched.json()["name"], patched.json()["about"]) == ("Alice A.", "hi there")
        for bad in ({"name": 5}, {"name": "x" * 65}, {"unknown": 1}):
            response = await http.patch("/v1/me", json=bad)
            assert response.status_code == 422, bad
            assert response.json()["error"]["code"] == "invalid"
        response = await http.patch(
            "/v1/me", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422
        assert (await http.get("/v1/me")).json()["name"] == "Alice A."
        other = await http.get(f"/v1/users/{bob}")
        assert other.json() == {"id": bob, "name": bob, "about": ""}
        for missing in ("nobody-at-all", "..%2F..%2Fetc", "UPPER"):
            assert (await http.get(f"/v1/users/{missing}")).status_code == 404


async def test_conversations_and_history_for_members_only(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob", "eve")
    alice, bob, eve = tokens
    async with connect(server.mqtt_port, alice, tokens[alice]) as a:
        acks = [await a.send({"id": f"m{i}", "to": bob, "text": f"t{i}"}) for i in range(5)]
    conv = acks[0]["conv"]
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(tokens[bob])) as http:
        (listed,) = (await http.get("/v1/conversations")).json()
        assert (
            listed["conv"],
            listed["kind"],
            listed["name"],
            listed["members"],
            listed["admins"],
            listed["last_seq"],
        ) == (conv, "dm", None, sorted([alice, bob]), [], 5)
        page = (await http.get(f"/v1/conversations/{conv}/messages", params={"limit": 2})).json()
        assert [(m["seq"], m["text"], m["from"]) for m in page] == [
            (5, "t4", alice),
            (4, "t3", alice),
        ]
        older = (await http.get(f"/v1/conversations/{conv}/messages", params={"before": 4})).json()
        assert [m["seq"] for m in older] == [3, 2, 1]
        for params in ({"limit": 0}, {"limit": 501}, {"before": "x"}):
            response = await http.get(f"/v1/conversations/{conv}/messages", params=params)
            assert response.status_code == 422, params
        receipts = (await http.get(f"/v1/conversations/{conv}/messages/1/receipts")).json()
        assert receipts == [{"user": bob, "delivered_ts": None, "read_ts": None}]
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(tokens[eve])) as http:
        response = await http.get(f"/v1/conversations/{conv}/messages")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "not_member"
        assert (await http.get("/v1/conversations")).json() == []
        assert (
            await http.get("/v1/conversations/g:AAAAAAAAAAAAAAAAAAAA/messages")
        ).status_code == 404
        assert (await http.get("/v1/conversations/not-a-conv/messages")).status_code == 404

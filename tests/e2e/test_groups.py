"""Groups end to end: HTTP management, event messages, fan-out, visibility, limits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from backend.topics import ClientTopic, InboxTopic
from tests.e2e.conftest import UserFactory
from tests.support.mqtt import ChatPeer, connect
from tests.support.server import ServerProcess


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def api(server: ServerProcess, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(token)) as http:
        yield http


async def create_group(
    server: ServerProcess, token: str, name: str, members: list[str]
) -> dict[str, Any]:
    async with api(server, token) as http:
        response = await http.post("/v1/groups", json={"name": name, "members": members})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_and_fan_out_to_every_member(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("ann", "ben", "cat", "dan")
    ann, ben, cat, dan = tokens
    peers: dict[str, ChatPeer] = {}
    async with contextlib.AsyncExitStack() as stack:
        for user in (ann, ben, cat, dan):
            peers[user] = await stack.enter_async_context(
                connect(server.mqtt_port, user, tokens[user])
            )
        group = await create_group(server, tokens[ann], "Climbing", [ben, cat, dan])
        conv = group["conv"]
        assert (group["kind"], group["name"], group["admins"], group["last_seq"]) == (
            "group",
            "Climbing",
            [ann],
            1,
        )
        assert sorted(group["members"]) == sorted([ann, ben, cat, dan])
        for user in (ben, cat, dan):
            created = await peers[user].expect(InboxTopic.MSG)
            assert (created["conv"], created["seq"], created["kind"], created["from"]) == (
                conv,
                1,
                "event",
                ann,
            )
            assert created["event"] == {
                "type": "created",
                "users": [ann, ben, cat, dan],
                "name": "Climbing",
            }
        ack = await peers[ben].send({"id": "hello", "conv": conv, "text": "hi all"})
        assert ack["seq"] == 2
        for user in (ann, cat, dan):
            message = await peers[user].expect(InboxTopic.MSG)
            assert (message["seq"], message["from"], message["text"]) == (2, ben, "hi all")
        await peers[ben].expect_none(InboxTopic.MSG, within=0.3)


async def test_removal_cuts_off_delivery_at_once_and_later_members_see_no_history(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("ann", "ben", "cat", "eve")
    ann, ben, cat, eve = tokens
    group = await create_group(server, tokens[ann], "Book club", [ben, cat])
    conv = group["conv"]
    async with (
        connect(server.mqtt_port, cat, tokens[cat]) as c,
        connect(server.mqtt_port, ben, tokens[ben]) as b,
    ):
        await b.send({"id": "before", "conv": conv, "text": "early"})  # seq 2
        async with api(server, tokens[ann]) as http:
            removed = await http.delete(f"/v1/groups/{conv}/members/{cat}")
            assert removed.status_code == 200, removed.text
            assert cat not in removed.json()["members"]
            added = await http.post(f"/v1/groups/{conv}/members", json={"users": [eve]})
            assert added.status_code == 200
        await b.send({"id": "after", "conv": conv, "text": "late"})  # seq 5
        seen_by_cat = [await c.expect(InboxTopic.MSG) for _ in range(2)]
        assert [(m["seq"], m.get("event", {}).get("type")) for m in seen_by_cat] == [
            (2, None),
            (3, "member_removed"),
        ]
        await c.expect_none(InboxTopic.MSG, within=0.5)
        refused = await c.send({"id": "x", "conv": conv, "text": "let me back"})
        assert refused["error"]["code"] == "not_member"
    async with connect(server.mqtt_port, eve, tokens[eve]) as e:
        await e.publish(ClientTopic.SYNC, {"id": "s"})
        synced = [await e.expect(InboxTopic.MSG) for _ in range(2)]
        end = await e.expect(InboxTopic.SYNC)
    assert [m["seq"] for m in synced] == [4, 5]
    assert synced[0]["event"] == {"type": "member_added", "users": [eve], "name": None}
    assert end["convs"][conv]["last_seq"] == 5
    async with api(server, tokens[eve]) as http:
        history = (await http.get(f"/v1/conversations/{conv}/messages")).json()
    assert [m["seq"] for m in history] == [5, 4]
    async with api(server, tokens[cat]) as http:
        history = (await http.get(f"/v1/conversations/{conv}/messages")).json()
    assert [m["seq"] for m in history] == [3, 2, 1]


async def test_admin_rules_over_http(server: ServerProcess, make_users: UserFactory) -> None:
    tokens = make_users("ann", "ben", "cat", "dan")
    ann, ben, cat, dan = tokens
    group = await create_group(server, tokens[ann], "Rules", [ben, cat])
    conv = group["conv"]
    async with api(server, tokens[ben]) as http:
        for method, path, body in [
            ("PATCH", f"/v1/groups/{conv}", {"name": "Mine"}),
            ("POST", f"/v1/groups/{conv}/members", {"users": [dan]}),
            ("DELETE", f"/v1/groups/{conv}/members/{cat}", None),
            ("PUT", f"/v1/groups/{conv}/admins/{ben}", None),
        ]:
            response = await http.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["error"]["code"] == "forbidden"
    async with api(server, tokens[dan]) as http:
        response = await http.patch(f"/v1/groups/{conv}", json={"name": "Outsider"})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "not_member"
    async with api(server, tokens[ann]) as http:
        unknown = await http.post(
            f"/v1/groups/{conv}/members", json={"users": [dan, "nobody-x", "nobody-y"]}
        )
        assert unknown.status_code == 404
        assert unknown.json()["error"]["users"] == ["nobody-x", "nobody-y"]
        assert dan not in (await http.get("/v1/conversations")).json()[0]["members"]
        twice = await http.post(f"/v1/groups/{conv}/members", json={"users": [ben]})
        assert twice.json()["last_seq"] == 1  # harmless: no event
        promoted = await http.put(f"/v1/groups/{conv}/admins/{ben}")
        assert sorted(promoted.json()["admins"]) == sorted([ann, ben])
        renamed = await http.patch(f"/v1/groups/{conv}", json={"name": "  Renamed  "})
        assert renamed.json()["name"] == "Renamed"
        left = await http.delete(f"/v1/groups/{conv}/members/{ann}")
        assert left.status_code == 200
        assert left.json()["admins"] == [ben]
        for bad in ({"name": ""}, {"name": 5}, {}):
            response = await http.post("/v1/groups", json=bad)
            assert response.status_code in (400, 422), bad


async def test_last_admin_leaving_promotes_the_longest_standing_member(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("ann", "ben", "cat")
    ann, ben, cat = tokens
    group = await create_group(server, tokens[ann], "Succession", [ben])
    conv = group["conv"]
    async with api(server, tokens[ann]) as http:
        await http.post(f"/v1/groups/{conv}/members", json={"users": [cat]})
    async with connect(server.mqtt_port, cat, tokens[cat]) as c:
        async with api(server, tokens[ann]) as http:
            assert (await http.delete(f"/v1/groups/{conv}/members/{ann}")).status_code == 200
        left = await c.expect(InboxTopic.MSG)
        promoted = await c.expect(InboxTopic.MSG)
    assert left["event"] == {"type": "member_left", "users": [ann], "name": None}
    assert promoted["event"] == {"type": "admin_added", "users": [ben], "name": None}


async def test_the_member_limit(server: ServerProcess, make_users: UserFactory) -> None:
    names = [f"m{index}x" for index in range(257)]
    tokens = make_users(*names)
    creator, *others = list(tokens)
    async with api(server, tokens[creator]) as http:
        too_many = await http.post("/v1/groups", json={"name": "Big", "members": others})
        assert too_many.status_code == 413
        assert too_many.json()["error"]["code"] == "too_large"
        full = await http.post("/v1/groups", json={"name": "Full", "members": others[:255]})
        assert full.status_code == 201
        assert len(full.json()["members"]) == 256
        one_more = await http.post(
            f"/v1/groups/{full.json()['conv']}/members", json={"users": [others[255]]}
        )
        assert one_more.status_code == 413

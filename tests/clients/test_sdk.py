"""`ChatClient` checks that need no server."""

from __future__ import annotations

from typing import Any

import pytest

from clients.errors import ChatClientError
from clients.sdk import ChatClient


@pytest.mark.parametrize(
    ("user", "options", "problem"),
    [
        ("Alice", {}, "user id"),
        ("alice", {"tag": "a/b"}, "tag"),
        ("alice", {"sync_limit": 0}, "sync_limit"),
        ("alice", {"sync_limit": 5000}, "sync_limit"),
        ("alice", {"retry_interval": 0}, "retry_interval"),
    ],
)
async def test_bad_arguments_fail_at_once(user: str, options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ChatClient("127.0.0.1", 1883, user, "token", **options)


async def test_requests_need_the_context_manager() -> None:
    chat = ChatClient("127.0.0.1", 1883, "alice", "token")
    with pytest.raises(ChatClientError, match="async with"):
        await chat.send("hi", to="bob")


async def test_send_checks_its_target_before_queueing() -> None:
    async with ChatClient("127.0.0.1", 1, "alice", "token") as chat:
        with pytest.raises(ValueError, match="exactly one"):
            await chat.send("hi")
        with pytest.raises(ValueError, match="id"):
            await chat.send("hi", to="bob", id="not valid!")
        assert chat.pending_sends() == []
    assert chat.client_id == "alice"


async def test_history_needs_an_http_url() -> None:
    async with ChatClient("127.0.0.1", 1, "alice", "token") as chat:
        with pytest.raises(ChatClientError, match="http_url"):
            await chat.history("dm:alice:bob")

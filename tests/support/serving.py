"""The check every hostile test ends with: two ordinary users still talk through the server."""

from __future__ import annotations

import itertools

from backend.topics import InboxTopic
from tests.support.mqtt import connect
from tests.support.server import ServerProcess

_ids = itertools.count(1)


def next_id(prefix: str) -> str:
    """A request id no other call of this test run uses."""
    return f"{prefix}{next(_ids)}"


async def exchange(server: ServerProcess, tokens: dict[str, str], sender: str, to: str) -> None:
    """`sender` sends `to` a message: it is acked, and delivered."""
    text = f"still serving {next_id('')}"
    async with (
        connect(server.mqtt_port, sender, tokens[sender]) as a,
        connect(server.mqtt_port, to, tokens[to]) as b,
    ):
        ack = await a.send({"id": next_id("ok"), "to": to, "text": text})
        assert "error" not in ack, ack
        assert (await b.expect(InboxTopic.MSG))["text"] == text

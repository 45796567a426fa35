"""The calls of `ChatClient` about typing and presence.

A base class of `ChatClient`, so that the client reads as one object while each file
keeps to one concern. Typing is QoS 0 and fleeting: sent only while connected, shown by
receivers for 6 s after the last one. Presence is the server's retained
`presence/<user>`, followed through `clients.watching.PresenceFollower`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, Literal

import aiomqtt

from backend import wire
from backend.topics import ClientTopic, client_topic
from clients.errors import ChatClientError
from clients.presence import PresenceWatch
from clients.state import ClientState
from clients.watching import PresenceFollower

if TYPE_CHECKING:
    from clients.session import Session

# Receivers show `typing` for 6 s after the last one: repeating every 3 s keeps it shown
# even when one repeat is lost (typing is QoS 0).
TYPING_REPEAT_S = 3.0


class PresenceAndTyping:
    """Typing and presence as methods of the client."""

    user: str
    state: ClientState
    _session: Session | None
    _presence: PresenceFollower

    if TYPE_CHECKING:  # `ChatClient._check_open`

        def _check_open(self) -> None: ...

    async def typing(
        self, conv: str, state: Literal["typing", "recording", "paused"] = "typing"
    ) -> None:
        """Tell the other members once (QoS 0; dropped when not connected, as typing is
        fleeting). Receivers forget it after 6 s: see `typing_in` to keep it up."""
        self._check_open()
        if self._session is not None:
            payload = json.dumps({"conv": conv, "state": state}).encode()
            with contextlib.suppress(aiomqtt.MqttError):
                await self._session.mqtt.publish(
                    client_topic(self.user, ClientTopic.TYPING), payload, qos=0
                )

    @contextlib.asynccontextmanager
    async def typing_in(
        self,
        conv: str,
        state: Literal["typing", "recording"] = "typing",
        *,
        every: float = TYPING_REPEAT_S,
    ) -> AsyncIterator[None]:
        """`async with client.typing_in(conv):` shows this user typing (or recording) in
        `conv` for as long as the block runs: the state is sent at once and again every
        `every` seconds, and `paused` is sent on the way out."""
        self._check_open()
        if every <= 0:
            raise ValueError("every must be positive")

        async def keep_up() -> None:
            with contextlib.suppress(ChatClientError):  # closed or refused: nothing to keep up
                while True:
                    await self.typing(conv, state)
                    await asyncio.sleep(every)

        repeating = asyncio.create_task(keep_up(), name=f"mqchat-typing[{conv}]")
        try:
            yield
        finally:
            repeating.cancel()
            await asyncio.wait([repeating])
            if self.state.fatal is None:
                await self.typing(conv, "paused")

    def who_is_typing(self, conv: str) -> dict[str, wire.TypingState]:
        """Who is typing (or recording) in `conv` now: a state lasts 6 s after the last one."""
        return self.state.typing.typing(conv, time.monotonic())

    def watch_presence(self, user: str) -> PresenceWatch:
        """`async for update in client.watch_presence("bob")`: bob's `PresenceUpdate`s, the
        current (retained) state first, then each change, until the loop stops or the
        client closes. Raises `PresenceRefused` if the broker refuses (users may watch
        only users they share a conversation with).

        `await client.watch_presence("bob")` (the first form) subscribes for good instead,
        and the updates come as events of `events()`.
        """
        self._check_open()
        return PresenceWatch(
            partial(self._presence.follow, user), partial(self._presence.updates, user)
        )

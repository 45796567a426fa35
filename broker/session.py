"""`BrokerSession`: amqtt's `Session` at a fraction of its memory.

An idle connection's memory was mostly its amqtt `Session` (23 KB of 52): a
`transitions.Machine` per session, with its states, events and transitions as
objects of their own (17 KB), and two `asyncio.Queue`s (with their futures' deques
and an `Event` each). Here the state is one string with the same three states and
moves, and the queue of messages waiting for the session is a deque created when
the first message waits. Everything amqtt and mqchat read from a session is still
there, under the same names.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from amqtt.session import Session
from transitions import MachineError

NEW, CONNECTED, DISCONNECTED = "new", "connected", "disconnected"


class SessionState:
    """What amqtt uses of the session's `transitions.Machine`: `state`, `connect()`,
    `disconnect()`, `is_connected()`; invalid moves raise `MachineError` as there."""

    __slots__ = ("_session", "state")

    def __init__(self, session: Session) -> None:
        self._session = session
        self.state = NEW

    def connect(self) -> None:
        if self.state == CONNECTED:
            raise MachineError("a connected session cannot connect")
        self.state = CONNECTED
        self._session._on_enter_connected()

    def disconnect(self) -> None:
        # From any state, as the machine allowed; entering "disconnected" stamps the time.
        self.state = DISCONNECTED
        self._session._on_enter_disconnected()

    def is_new(self) -> bool:
        return self.state == NEW

    def is_connected(self) -> bool:
        return self.state == CONNECTED

    def is_disconnected(self) -> bool:
        return self.state == DISCONNECTED


class MessageQueue:
    """The part of `asyncio.Queue` that sessions use, over a deque made on first use."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: deque[Any] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items is not None else 0

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)

    async def put(self, item: Any) -> None:  # never full: bounded by whoever puts
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        if not self._items:
            self._items = None  # an empty deque still holds a 64-slot block
        return item


class BrokerSession(Session):  # type: ignore[misc]  # amqtt is untyped
    """A client's session, as amqtt's, with a light state and lazy queues."""

    def __init__(self) -> None:
        super().__init__()
        # Replacing what Session.__init__ made: the queues are garbage at once.
        self.retained_messages = MessageQueue()
        self.delivered_message_queue = MessageQueue()

    def _init_states(self) -> None:
        self.transitions = SessionState(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.retained_messages = MessageQueue()
        self.delivered_message_queue = MessageQueue()

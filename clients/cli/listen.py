"""`mqchat listen`: messages as they arrive, ticks on your own, who is typing.

    [dm:alice:bob #3] alice: hello
    [dm:alice:bob #4] ✓ sent
    [dm:alice:bob #4] ✓✓ delivered to alice
    [dm:alice:bob] alice is typing...

`ListenView` decides what each event prints; it keeps no I/O and takes `now`, so the
rules (a tick once per state, typing once per burst) are unit-tested without a server.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Annotated

import typer

from backend import wire
from clients.cli.common import (
    DEFAULT_HOST,
    DEFAULT_MQTT_PORT,
    Host,
    MqttPort,
    Token,
    UnusedHttpUrl,
    User,
    credentials,
    run,
    until_stopped,
)
from clients.errors import ChatClientError
from clients.events import Event, SyncCompleted
from clients.render import format_message
from clients.sdk import ChatClient
from clients.ticks import TickTracker, format_tick
from clients.typing_board import TypingBoard

CONNECT_NOTICE_AFTER_S = 5.0

_TYPING_WORDS = {"typing": "is typing...", "recording": "is recording a voice note..."}


class ListenView:
    """The lines `listen` prints for each event, in order."""

    def __init__(self) -> None:
        self.ticks = TickTracker()
        self.typing = TypingBoard()

    def lines(self, event: Event, now: float) -> list[str]:
        """What to print for `event`, received at `now` (seconds, monotonic)."""
        match event:
            case wire.Message():
                # A message ends its sender's typing: typing again afterwards is news.
                self.typing.update(event.conv, event.sender, "paused", now)
                return [format_message(event)]
            case wire.Ack():
                return [format_tick(self.ticks.on_ack(event))]
            case wire.ReceiptEvent():
                return [format_tick(tick) for tick in self.ticks.on_receipt(event)]
            case wire.TypingEvent() if self.typing.on_event(event, now):
                return [f"[{event.conv}] {event.sender} {_TYPING_WORDS[event.state]}"]
            case SyncCompleted():
                for conv, marks in event.convs.items():
                    self.ticks.known(
                        conv, all_delivered=marks.all_delivered, all_read=marks.all_read
                    )
        return []


def listen(
    tag: Annotated[
        str, typer.Option(help="Client id tag (client id <user>:<tag>).")
    ] = "cli-listen",
    host: Host = DEFAULT_HOST,
    mqtt_port: MqttPort = DEFAULT_MQTT_PORT,
    user: User = None,
    token: Token = None,
    _http_url: UnusedHttpUrl = None,
) -> None:
    """Connect, sync, and print each message as it arrives, one line each, until Ctrl-C.

    Your own messages (sent from any device) get ticks as receipts come: `✓ sent`,
    `✓✓ delivered to bob`, `✓✓ read by bob` (in groups: to / by all). Someone starting
    to type shows once: `[conv] bob is typing...`.
    """
    user, token = credentials(user, token)

    async def follow() -> None:
        async with ChatClient(host, mqtt_port, user, token, tag=tag) as client:
            notice = asyncio.create_task(_connect_notice(client, f"{host}:{mqtt_port}"))
            try:
                # The client closes outside the stop: cleanly, saying goodbye.
                await until_stopped(_print_events(client))
            finally:
                notice.cancel()

    run(follow())


async def _print_events(client: ChatClient) -> None:
    view = ListenView()
    announced = False
    async for event in client.events():
        for line in view.lines(event, time.monotonic()):
            print(line, flush=True)
        match event:
            case SyncCompleted() if not announced:
                announced = True
                print(f"listening as {client.client_id}", file=sys.stderr, flush=True)
            case wire.ErrorNotice():
                print(f"server error: {event.error.code}: {event.error.message}", file=sys.stderr)


async def _connect_notice(client: ChatClient, where: str) -> None:
    """Say so when the server is not there yet (the client keeps trying meanwhile)."""
    try:
        async with asyncio.timeout(CONNECT_NOTICE_AFTER_S):
            await client.connected()
    except TimeoutError:
        print(f"not connected to {where} yet; still trying", file=sys.stderr, flush=True)
    except ChatClientError:
        pass  # a refusal: the event reader reports it

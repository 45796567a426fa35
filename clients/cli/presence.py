"""`mqchat presence <user>`: `online`, or `last seen 3 minutes ago`, as it changes."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer

from clients.cli.common import (
    DEFAULT_HOST,
    DEFAULT_MQTT_PORT,
    Host,
    MqttPort,
    Token,
    UnusedHttpUrl,
    User,
    credentials,
    local_zone,
    now_ms,
    run,
    until_stopped,
)
from clients.presence import describe_presence
from clients.sdk import ChatClient

DEFAULT_WAIT_S = 5.0


def presence(
    who: Annotated[str, typer.Argument(help="The user to watch (you must share a conversation).")],
    once: Annotated[bool, typer.Option(help="Print the current state and exit.")] = False,
    wait: Annotated[
        float, typer.Option(help="With --once: seconds to wait for the server's answer.")
    ] = DEFAULT_WAIT_S,
    tag: Annotated[
        str, typer.Option(help="Client id tag (client id <user>:<tag>).")
    ] = "cli-presence",
    host: Host = DEFAULT_HOST,
    mqtt_port: MqttPort = DEFAULT_MQTT_PORT,
    user: User = None,
    token: Token = None,
    _http_url: UnusedHttpUrl = None,
) -> None:
    """Print whether a user is online or when last seen, then each change, until Ctrl-C.

    With --once: just the current state, or `unknown` if the server has none.
    """
    user, token = credentials(user, token)

    async def watch() -> None:
        # Watching only: it neither syncs nor shows you online.
        async with ChatClient(host, mqtt_port, user, token, tag=tag, receive=False) as client:
            updates = aiter(client.watch_presence(who))
            if once:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        update = await anext(updates)
                        print(describe_presence(update, now_ms(), local_zone()))
                        return
                print("unknown")
                return

            async def follow() -> None:
                async for update in updates:
                    print(describe_presence(update, now_ms(), local_zone()), flush=True)

            await until_stopped(follow())

    run(watch())

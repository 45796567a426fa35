"""What every client command shares: connection options, credentials, running, failing.

Every failure ends in one `error: ...` line on stderr and exit code 1; Ctrl-C or SIGTERM
ends a command that runs until stopped cleanly, with exit code 0.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from datetime import datetime, tzinfo
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from clients.errors import ChatClientError

T = TypeVar("T")

Host = Annotated[str, typer.Option("--host", envvar="MQCHAT_HOST", help="The server's MQTT host.")]
MqttPort = Annotated[
    int, typer.Option("--mqtt-port", envvar="MQCHAT_MQTT_PORT", help="The server's MQTT port.")
]
HttpUrl = Annotated[
    str, typer.Option("--http-url", envvar="MQCHAT_HTTP_URL", help="The server's HTTP API.")
]
User = Annotated[str | None, typer.Option("--user", envvar="MQCHAT_USER", help="Your user id.")]
Token = Annotated[
    str | None, typer.Option("--token", envvar="MQCHAT_TOKEN", help="Your access token.")
]

# Common options a command has no use for: accepted (hidden), so that scripts can pass the
# same connection flags to every command.
UnusedHttpUrl = Annotated[str | None, typer.Option("--http-url", hidden=True)]
UnusedHost = Annotated[str | None, typer.Option("--host", hidden=True)]
UnusedMqttPort = Annotated[str | None, typer.Option("--mqtt-port", hidden=True)]
UnusedUser = Annotated[str | None, typer.Option("--user", hidden=True)]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MQTT_PORT = 1883
DEFAULT_HTTP_URL = "http://127.0.0.1:8080"


def credentials(user: str | None, token: str | None) -> tuple[str, str]:
    """The user and token, or a failure naming what is missing."""
    if not user:
        fail("no user: pass --user or set MQCHAT_USER")
    return user, need_token(token)


def need_token(token: str | None) -> str:
    """The token, or a failure saying how to give it."""
    if not token:
        fail("no token: pass --token or set MQCHAT_TOKEN")
    return token


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the command; turn the errors a user can act on into one line."""
    try:
        return asyncio.run(coroutine)
    except (ChatClientError, ValueError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


async def until_stopped(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` until it ends or Ctrl-C / SIGTERM; its errors propagate, a stop does not."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    working = asyncio.create_task(work, name="command")
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (working, stopping):
            task.cancel()
        await asyncio.wait({working, stopping})
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    if not working.cancelled():
        working.result()  # an error of the work (a refusal, say) ends up here


def local_zone() -> tzinfo:
    """This machine's time zone, for showing times the way its user reads them."""
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def now_ms() -> int:
    """The wall clock in the contract's unit: milliseconds since the Unix epoch."""
    return int(datetime.now().timestamp() * 1000)


def fail(message: str) -> NoReturn:
    """End the command with `error: <message>` on stderr and exit code 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)

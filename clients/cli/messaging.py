"""Client commands of the `mqchat` CLI: `send`, `listen` and `history`.

They talk to a running server exactly as any client would, through the SDK. Every
failure ends in one `error: ...` line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from backend import wire
from clients.connection import new_request_id
from clients.errors import ChatClientError
from clients.events import SyncCompleted
from clients.http import ChatHttp
from clients.sdk import ChatClient

T = TypeVar("T")

DEFAULT_SEND_TIMEOUT_S = 30.0
CONNECT_NOTICE_AFTER_S = 5.0

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


def register_client_commands(app: typer.Typer) -> None:
    """Add the client commands to the `mqchat` app."""
    app.command("send")(send)
    app.command("listen")(listen)
    app.command("history")(history)


def send(
    text: Annotated[str, typer.Argument(help="The message text.")],
    to: Annotated[str | None, typer.Option(help="A user: the 1:1 conversation with them.")] = None,
    conv: Annotated[str | None, typer.Option(help="A conversation id.")] = None,
    request_id: Annotated[
        str | None,
        typer.Option(
            "--id", help="The request id; sending again with the same id never duplicates."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the ack.")] = (
        DEFAULT_SEND_TIMEOUT_S
    ),
    tag: Annotated[str, typer.Option(help="Client id tag (client id <user>:<tag>).")] = "cli-send",
    host: Host = "127.0.0.1",
    mqtt_port: MqttPort = 1883,
    user: User = None,
    token: Token = None,
    _http_url: UnusedHttpUrl = None,
) -> None:
    """Send a message; print the conversation and seq it was stored under."""
    user, token = _credentials(user, token)
    if (to is None) == (conv is None):
        _fail("give exactly one of --to and --conv")
    request_id = request_id or new_request_id()

    async def run() -> wire.Ack:
        # Send-only: it must not mark as delivered messages that no one has seen.
        async with ChatClient(host, mqtt_port, user, token, tag=tag, receive=False) as client:
            try:
                async with asyncio.timeout(timeout):
                    return await client.send(text, to=to, conv=conv, id=request_id)
            except TimeoutError:
                _fail(
                    f"no ack within {timeout:g}s from {host}:{mqtt_port}; the message may still "
                    f"be stored: run again with --id {request_id} to retry without duplicating"
                )

    ack = _run(run())
    print(f"conv={ack.conv} seq={ack.seq}")


def listen(
    tag: Annotated[
        str, typer.Option(help="Client id tag (client id <user>:<tag>).")
    ] = "cli-listen",
    host: Host = "127.0.0.1",
    mqtt_port: MqttPort = 1883,
    user: User = None,
    token: Token = None,
    _http_url: UnusedHttpUrl = None,
) -> None:
    """Connect, sync, and print each message as it arrives, one line each, until Ctrl-C."""
    user, token = _credentials(user, token)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with ChatClient(host, mqtt_port, user, token, tag=tag) as client:
            printing = asyncio.create_task(_print_events(client), name="print-events")
            notice = asyncio.create_task(_connect_notice(client, f"{host}:{mqtt_port}"))
            stopping = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({printing, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (printing, notice, stopping):
                    task.cancel()
            if printing.done() and not printing.cancelled():
                printing.result()  # a refusal of the credentials ends up here

    _run(run())


def history(
    conv: Annotated[str, typer.Argument(help="A conversation id.")],
    limit: Annotated[int, typer.Option(help="How many messages (at most 500).")] = 50,
    before: Annotated[int | None, typer.Option(help="Only messages before this seq.")] = None,
    http_url: HttpUrl = "http://127.0.0.1:8080",
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
    _user: UnusedUser = None,
) -> None:
    """Print a conversation's latest messages (or those before --before), oldest first."""
    if not token:
        _fail("no token: pass --token or set MQCHAT_TOKEN")

    async def run() -> list[wire.Message]:
        async with ChatHttp(http_url, token) as api:
            return await api.history(conv, before=before, limit=limit)

    for message in reversed(_run(run())):
        print(format_message(message))


def format_message(message: wire.Message) -> str:
    """One line: `[dm:alice:bob #3] alice: hello`; line breaks in the text are escaped."""
    if message.kind == "event" and message.event is not None:
        event = message.event
        details = ", ".join(event.users) if event.users else ""
        if event.name is not None:
            details = f"{details} {event.name!r}".strip()
        body = f"* {event.type} {details}".rstrip()
    elif message.kind in ("image", "voice"):
        body = f"<{message.kind}> {message.text or ''}".rstrip()
    else:
        body = message.text or ""
    body = body.replace("\r", "\\r").replace("\n", "\\n")
    return f"[{message.conv} #{message.seq}] {message.sender}: {body}"


async def _print_events(client: ChatClient) -> None:
    announced = False
    async for event in client.events():
        match event:
            case wire.Message():
                print(format_message(event), flush=True)
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


def _credentials(user: str | None, token: str | None) -> tuple[str, str]:
    if not user:
        _fail("no user: pass --user or set MQCHAT_USER")
    if not token:
        _fail("no token: pass --token or set MQCHAT_TOKEN")
    return user, token


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the command; turn the errors a user can act on into one line."""
    try:
        return asyncio.run(coroutine)
    except (ChatClientError, ValueError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)

"""Client commands of the `mqchat` CLI, one module per area.

They talk to a running server exactly as any client would, through the SDK. Every
failure ends in one `error: ...` line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import typer

from clients.cli.groups import group_app
from clients.cli.listen import listen
from clients.cli.media import media_app
from clients.cli.messaging import history, info, read, send
from clients.cli.presence import presence
from clients.render import format_message

__all__ = ["format_message", "register_client_commands"]


def register_client_commands(app: typer.Typer) -> None:
    """Add the client commands to the `mqchat` app."""
    app.command("send")(send)
    app.command("listen")(listen)
    app.command("history")(history)
    app.command("read")(read)
    app.command("info")(info)
    app.command("presence")(presence)
    app.add_typer(group_app, name="group")
    app.add_typer(media_app, name="media")

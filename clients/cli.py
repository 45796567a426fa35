"""Client commands of the `mqchat` CLI (send, listen, history, ...)."""

from __future__ import annotations

import typer


def register_client_commands(app: typer.Typer) -> None:
    """Add the client commands to the `mqchat` app."""

"""Client commands of the `mqchat` CLI (`send`, `listen`, `history`)."""

from clients.cli.messaging import format_message, register_client_commands

__all__ = ["format_message", "register_client_commands"]

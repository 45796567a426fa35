"""`mqchat group ...`: create and manage groups over the HTTP API.

`create` prints the new group's id alone, for scripts (`conv=$(mqchat group create ...)`);
the other changes print the group as it now is: `g:Xq3 "Climbing": alice (admin), bob`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import typer

from clients.cli.common import (
    DEFAULT_HTTP_URL,
    HttpUrl,
    Token,
    UnusedHost,
    UnusedMqttPort,
    UnusedUser,
    User,
    credentials,
    need_token,
    run,
)
from clients.http import ChatHttp
from clients.models import Conversation
from clients.render import format_conversation

group_app = typer.Typer(help="Create and manage groups.", no_args_is_help=True)

Conv = Annotated[str, typer.Argument(help="The group's conversation id (g:...).")]
Member = Annotated[str, typer.Argument(help="A user id.")]
Members = Annotated[list[str], typer.Argument(help="User ids.")]


def _call(
    http_url: str, token: str | None, request: Callable[[ChatHttp], Awaitable[Conversation]]
) -> Conversation:
    async def call() -> Conversation:
        async with ChatHttp(http_url, need_token(token)) as api:
            return await request(api)

    return run(call())


@group_app.command()
def create(
    name: Annotated[str, typer.Argument(help="The group's name.")],
    users: Annotated[list[str] | None, typer.Argument(help="Its other members.")] = None,
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
    _user: UnusedUser = None,
) -> None:
    """Create a group with you (its first admin) and the users named; print its id."""
    group = _call(http_url, token, lambda api: api.create_group(name, users or []))
    print(group.conv)


@group_app.command()
def add(
    conv: Conv,
    users: Members,
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
    _user: UnusedUser = None,
) -> None:
    """Add members (admins only)."""
    print(format_conversation(_call(http_url, token, lambda api: api.add_members(conv, users))))


@group_app.command()
def remove(
    conv: Conv,
    user: Member,
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
    _user: UnusedUser = None,
) -> None:
    """Remove a member (admins only)."""
    print(format_conversation(_call(http_url, token, lambda api: api.remove_member(conv, user))))


@group_app.command()
def leave(
    conv: Conv,
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    user: User = None,
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
) -> None:
    """Leave a group (you keep its history up to your leaving)."""
    me, token = credentials(user, token)
    _call(http_url, token, lambda api: api.remove_member(conv, me))
    print(f"left {conv}")


@group_app.command()
def promote(
    conv: Conv,
    user: Member,
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
    _user: UnusedUser = None,
) -> None:
    """Make a member an admin (admins only)."""
    group = _call(http_url, token, lambda api: api.set_admin(conv, user, True))
    print(format_conversation(group))


@group_app.command()
def demote(
    conv: Conv,
    user: Member,
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
    _user: UnusedUser = None,
) -> None:
    """Take admin rights away from a member (admins only; a group keeps one admin)."""
    group = _call(http_url, token, lambda api: api.set_admin(conv, user, False))
    print(format_conversation(group))


@group_app.command()
def rename(
    conv: Conv,
    name: Annotated[str, typer.Argument(help="The new name.")],
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
    _user: UnusedUser = None,
) -> None:
    """Rename a group (admins only)."""
    print(format_conversation(_call(http_url, token, lambda api: api.rename_group(conv, name))))


@group_app.command("list")
def list_groups(
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
    _user: UnusedUser = None,
) -> None:
    """Print your groups, one a line: id, name, members (admins marked)."""

    async def fetch() -> list[Conversation]:
        async with ChatHttp(http_url, need_token(token)) as api:
            return await api.conversations()

    for conversation in run(fetch()):
        if conversation.kind == "group":
            print(format_conversation(conversation))

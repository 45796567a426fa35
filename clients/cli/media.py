"""`mqchat media get`: save an image or voice note (or an image's thumbnail) to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clients.cli.common import (
    DEFAULT_HTTP_URL,
    HttpUrl,
    Token,
    UnusedHost,
    UnusedMqttPort,
    UnusedUser,
    need_token,
    run,
)
from clients.http import ChatHttp
from clients.render import format_size

media_app = typer.Typer(help="Media files of messages.", no_args_is_help=True)


@media_app.command()
def get(
    media_id: Annotated[str, typer.Argument(help="The media id (listen and history show it).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write.")],
    thumbnail: Annotated[
        bool, typer.Option(help="The image's thumbnail (a JPEG) instead of the file.")
    ] = False,
    http_url: HttpUrl = DEFAULT_HTTP_URL,
    token: Token = None,
    _host: UnusedHost = None,
    _mqtt_port: UnusedMqttPort = None,
    _user: UnusedUser = None,
) -> None:
    """Download a media file; it appears under --output only once complete."""
    token = need_token(token)

    async def download() -> Path:
        async with ChatHttp(http_url, token) as api:
            return await api.download(media_id, output, thumbnail=thumbnail)

    saved = run(download())
    print(f"saved {saved} ({format_size(saved.stat().st_size)})")

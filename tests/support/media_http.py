"""Media over HTTP for end-to-end tests: uploads, and a look at the server's media directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.support.server import ServerProcess

TIMEOUT_S = 60


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client(server: ServerProcess, token: str) -> httpx.AsyncClient:
    """An HTTP client of the server, authenticated as the token's user."""
    return httpx.AsyncClient(base_url=server.http_url, headers=bearer(token), timeout=TIMEOUT_S)


async def upload(
    http: httpx.AsyncClient, data: bytes | AsyncIterator[bytes], content_type: str | None
) -> httpx.Response:
    """POST the raw file as the body, with `content_type` (none if None)."""
    headers = {"Content-Type": content_type} if content_type else {}
    return await http.post("/v1/media", content=data, headers=headers)


async def uploaded(
    http: httpx.AsyncClient, data: bytes, content_type: str | None
) -> dict[str, object]:
    """Upload and return the media object; fails the test unless the upload was accepted."""
    response = await upload(http, data, content_type)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def media_dir(server: ServerProcess) -> Path:
    return server.data_dir / "media"


def temp_files(server: ServerProcess) -> list[Path]:
    """What is left in the server's upload temp directory."""
    return sorted((media_dir(server) / "tmp").iterdir())


def stored_path(server: ServerProcess, sha256: str) -> Path:
    return media_dir(server) / sha256[:2] / sha256[2:4] / sha256


def stored_files(server: ServerProcess) -> set[str]:
    """The names of every stored file (digests, and digests + ".thumb")."""
    root = media_dir(server)
    return {path.name for path in root.glob("??/??/*") if path.is_file()}

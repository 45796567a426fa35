"""The HTTP half of the SDK: history and conversation lists, with a bearer token.

Transport and status errors are translated once, here, into `HttpError`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from backend import wire
from clients.errors import HttpError

DEFAULT_TIMEOUT_S = 30.0

ModelT = TypeVar("ModelT", bound=BaseModel)


class Conversation(BaseModel):
    """One entry of `GET /v1/conversations`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    conv: str
    kind: Literal["dm", "group"]
    name: str | None = None
    members: list[str]
    admins: list[str] = []
    last_seq: int


class ChatHttp:
    """`async with ChatHttp(url, token) as api:` then `await api.history(conv)`."""

    def __init__(self, base_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def history(
        self, conv: str, *, before: int | None = None, limit: int = 50
    ) -> list[wire.Message]:
        """Messages of `conv` older than `before` (default: the newest), newest first."""
        params: dict[str, int] = {"limit": limit}
        if before is not None:
            params["before"] = before
        body = await self._get(f"/v1/conversations/{conv}/messages", params)
        return _parse_list(wire.Message, body)

    async def conversations(self) -> list[Conversation]:
        """Every conversation the user is in."""
        return _parse_list(Conversation, await self._get("/v1/conversations", {}))

    async def _get(self, path: str, params: dict[str, int]) -> Any:
        try:
            response = await self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise HttpError(None, "unreachable", f"{self._client.base_url}: {exc}") from exc
        if response.is_error:
            code, message = _error_of(response)
            raise HttpError(response.status_code, code, message)
        try:
            return response.json()
        except ValueError as exc:
            raise HttpError(response.status_code, "bad_response", "the body is not JSON") from exc


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The contract's `{"error": {"code", "message"}}`, or a stand-in when the body is not it."""
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "http_error", response.reason_phrase or "request failed"


def _parse_list(model: type[ModelT], body: Any) -> list[ModelT]:
    if not isinstance(body, list):
        raise HttpError(200, "bad_response", "expected a JSON array")
    try:
        return [model.model_validate(item) for item in body]
    except ValidationError as exc:
        raise HttpError(200, "bad_response", wire.describe_validation_error(exc)) from exc

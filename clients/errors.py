"""The SDK's errors. Each carries its data as attributes, for callers to act on."""

from __future__ import annotations


class ChatClientError(Exception):
    """Base of every error the SDK raises on purpose."""


class SendError(ChatClientError):
    """The server refused a send request: `code` is one of the contract's error codes."""

    def __init__(self, request_id: str | None, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.request_id = request_id
        self.code = code
        self.message = message


class ConnectionRefused(ChatClientError):
    """The broker refused the credentials (CONNACK 4 or 5); retrying will not help."""

    def __init__(self, user: str, reason: str) -> None:
        super().__init__(f"the broker refused {user!r}: {reason}")
        self.user = user
        self.reason = reason


class ClientClosed(ChatClientError):
    """The client was closed while a call was waiting on it."""


class HttpError(ChatClientError):
    """An HTTP API call failed: `status` is None when the server could not be reached."""

    def __init__(self, status: int | None, code: str, message: str) -> None:
        where = f"HTTP {status}" if status is not None else "HTTP"
        super().__init__(f"{where} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

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


class PresenceRefused(ChatClientError):
    """The broker refused to show `user`'s presence (SUBACK 0x80).

    Users may watch only themselves and users they share a conversation with.
    """

    def __init__(self, user: str) -> None:
        super().__init__(
            f"not allowed to watch {user!r}: you may watch only users you share a conversation with"
        )
        self.user = user


class HttpError(ChatClientError):
    """An HTTP API call failed: `status` is None when the server could not be reached.

    `code` is the contract's error code (`forbidden`, `not_member`, ...); `users` names
    the unknown users when a group create or add fails with `unknown_user`.
    """

    def __init__(
        self, status: int | None, code: str, message: str, users: list[str] | None = None
    ) -> None:
        where = f"HTTP {status}" if status is not None else "HTTP"
        super().__init__(f"{where} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.users = users or []

"""The error hierarchy. Each error carries the contract's stable `code`.

Errors are raised anywhere and translated once, at the edge: to an `in/ack` or
`in/error` payload by the MQTT loop, to a status code by the HTTP layer.
"""

from __future__ import annotations


class ChatError(Exception):
    """Base of every error a client may be told about."""

    code = "invalid"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ChatError):
    code = "invalid"
    http_status = 400


class TooLarge(ChatError):
    code = "too_large"
    http_status = 413


class UnknownUser(ChatError):
    code = "unknown_user"
    http_status = 404

    def __init__(self, message: str, users: list[str] | None = None) -> None:
        super().__init__(message)
        self.users = users or []


class UnknownConversation(ChatError):
    code = "unknown_conversation"
    http_status = 404


class NotMember(ChatError):
    code = "not_member"
    http_status = 403


class MediaNotFound(ChatError):
    code = "media_not_found"
    http_status = 404


class RateLimited(ChatError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s  # when a retry may succeed


class Unauthorized(ChatError):
    code = "unauthorized"
    http_status = 401


class Forbidden(ChatError):
    code = "forbidden"
    http_status = 403


class NotFound(ChatError):
    code = "not_found"
    http_status = 404


class UnsupportedType(ChatError):
    code = "unsupported_type"
    http_status = 415


class Conflict(ChatError):
    code = "conflict"
    http_status = 409


class Unavailable(ChatError):
    """The server cannot do it now (its disk is full, its database failing): retry later.

    Nothing was stored. Not a contract code but an extension (docs/protocol.md): a send
    answered `unavailable` is retried with the same id, as if unanswered.
    """

    code = "unavailable"
    http_status = 503

"""HTTP errors: every failure becomes the contract's `{"error": {"code", "message"}}`, here.

Also what the OpenAPI spec says of errors: each operation documents the error statuses
with this body, rather than FastAPI's default 422 `{"detail": [...]}`, which the server
never sends.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from backend.errors import ChatError, RateLimited, UnknownUser
from backend.limits import retry_after_header

log = logging.getLogger(__name__)

# The code of an error raised by the framework itself (no route, wrong method, ...).
STATUS_CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_type",
    416: "range_not_satisfiable",
    422: "invalid",
    429: "rate_limited",
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """The body of every error: extra fields (`users`, `retry_after_ms`) may come with it."""

    error: ErrorDetail


# Documented on every operation: which of them a given call can return depends on it.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": code}
    for status, code in STATUS_CODES.items()
    if status != 405  # a documented method is never answered with it
}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    """Translate every exception that reaches the app into the contract's error shape."""

    @app.exception_handler(ChatError)
    async def chat_error(_: Request, exc: ChatError) -> JSONResponse:
        body = error_body(exc.code, exc.message)
        headers: dict[str, str] = {}
        if isinstance(exc, UnknownUser) and exc.users:
            body["error"]["users"] = exc.users  # names who is unknown, for an add that failed
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = retry_after_header(exc.retry_after_s)
            body["error"]["retry_after_ms"] = math.ceil(exc.retry_after_s * 1000)
        return JSONResponse(body, status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        return JSONResponse(error_body("invalid", problems), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body("internal", "internal server error"), status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(app, request)
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )


def allowed_methods(app: FastAPI, request: Request) -> str:
    """Every method of the path, for a 405's `Allow` (RFC 9110 section 15.5.6).

    Starlette names only those of the first route matching the path, and a path served
    by several routes (`GET` and `PATCH /v1/me`) has one route per method.
    """
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))

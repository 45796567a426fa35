"""Schemathesis hooks for the HTTP fuzz (tests/e2e/test_http_fuzz.py), loaded by its CLI.

Loaded through `SCHEMATHESIS_HOOKS` in the schemathesis process only, never by pytest:
importing schemathesis patches Hypothesis process-wide (its failure reports print no
example), which would blind every other property test of the run.

- `contract_error_shape`: every 4xx has the contract's body, `{"error": {"code",
  "message"}}`, with a code that belongs to the status (HEAD answers carry no body).
- With `MQCHAT_FUZZ_TOKENS` (comma-separated), each request takes the next user's bearer
  token, so that the per-user HTTP rate limit leaves the fuzz enough requests.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import schemathesis

# The codes each status may carry (PROTOCOL.md, docs/protocol.md section 11).
CODES_BY_STATUS = {
    400: {"invalid"},
    401: {"unauthorized"},
    403: {"forbidden", "not_member"},
    404: {"not_found", "unknown_user", "unknown_conversation", "media_not_found"},
    405: {"method_not_allowed"},
    409: {"conflict"},
    413: {"too_large"},
    415: {"unsupported_type"},
    416: {"range_not_satisfiable"},
    422: {"invalid"},
    429: {"rate_limited"},
}


@schemathesis.check
def contract_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx is one of the contract's errors, in the contract's shape."""
    status = response.status_code
    if status < 400:
        return None
    if status >= 500:
        raise AssertionError(f"server error {status}: {response.content[:300]!r}")
    if status not in CODES_BY_STATUS:
        raise AssertionError(f"status {status} is none of the contract's")
    if case.method.upper() == "HEAD":
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"a {status} without a JSON body: {response.content[:300]!r}"
        ) from None
    error = body.get("error") if isinstance(body, dict) else None
    if not (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
    ):
        raise AssertionError(f'a {status} not shaped {{"error": {{"code", "message"}}}}: {body!r}')
    if error["code"] not in CODES_BY_STATUS[status]:
        raise AssertionError(f"a {status} with code {error['code']!r}")
    return None


_tokens = [token for token in os.environ.get("MQCHAT_FUZZ_TOKENS", "").split(",") if token]
if _tokens:
    _next_token = itertools.cycle(_tokens)

    @schemathesis.auth(refresh_interval=None, retry_on=[])
    class RotatingBearer:
        """A different real user's token for each request."""

        def get(self, case: Any, context: Any) -> str:
            return next(_next_token)

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

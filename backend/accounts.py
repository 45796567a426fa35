"""Access tokens: 256 random bits, stored only as a SHA-256 hash.

A fast hash is right here: the tokens are random, so there is nothing to brute-force
that a slow hash would protect. Comparisons are constant-time, over bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

TOKEN_BYTES = 32  # 256 bits

# The backend's own broker account. It can never collide with a user: user ids start
# with a letter or digit.
BACKEND_USERNAME = "_mqchat"
BACKEND_CLIENT_ID = "_mqchat-backend"


def new_token() -> str:
    """A fresh access token: 43 URL-safe characters carrying 256 random bits."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def token_matches(token: str, expected_hash: bytes) -> bool:
    """Constant-time check of a presented token against a stored hash."""
    return hmac.compare_digest(hash_token(token), expected_hash)


def backend_secret_path(data_dir: Path) -> Path:
    """The file holding the backend's broker password (Mosquitto's plugin reads it too)."""
    return data_dir / "backend.secret"


def backend_password(data_dir: Path) -> str:
    """The backend's password on the embedded broker, generated on first start.

    It lives in the data dir, readable by its owner only, never as a fixed default.
    """
    path = backend_secret_path(data_dir)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = new_token()
    # O_EXCL: if two processes race on first start, one wins and the other reads its secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret

"""Identifiers of the wire contract: users, conversations, client ids and message ids.

Everything here is pure: validation by regular expression and the naming rules that
let both sides of a 1:1 conversation name it without asking the server.
"""

from __future__ import annotations

import re
import secrets
import string

USER_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
PHONE = re.compile(r"\+[0-9]{8,15}")
CLIENT_TAG = re.compile(r"[A-Za-z0-9_-]{1,32}")
CLIENT_MSG_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
GROUP_ID = re.compile(r"[A-Za-z0-9]{16,32}")

DM_PREFIX = "dm:"
GROUP_PREFIX = "g:"
_GROUP_ALPHABET = string.ascii_letters + string.digits
_GROUP_ID_LENGTH = 22  # ~131 bits of randomness


def is_user_id(value: str) -> bool:
    return USER_ID.fullmatch(value) is not None


def is_phone(value: str) -> bool:
    return PHONE.fullmatch(value) is not None


def is_client_msg_id(value: str) -> bool:
    return CLIENT_MSG_ID.fullmatch(value) is not None


def dm_conv(a: str, b: str) -> str:
    """The id of the 1:1 conversation between `a` and `b`: `dm:<low>:<high>` in byte order."""
    low, high = sorted((a, b), key=lambda user: user.encode())
    return f"{DM_PREFIX}{low}:{high}"


def dm_members(conv: str) -> tuple[str, str] | None:
    """The two members named by a well-formed dm id, or None."""
    if not conv.startswith(DM_PREFIX):
        return None
    parts = conv[len(DM_PREFIX) :].split(":")
    if len(parts) != 2:
        return None
    low, high = parts
    if not (is_user_id(low) and is_user_id(high)) or low.encode() >= high.encode():
        return None
    return low, high


def is_group_conv(conv: str) -> bool:
    return (
        conv.startswith(GROUP_PREFIX) and GROUP_ID.fullmatch(conv[len(GROUP_PREFIX) :]) is not None
    )


def is_conv_id(conv: str) -> bool:
    return dm_members(conv) is not None or is_group_conv(conv)


def new_group_conv() -> str:
    return GROUP_PREFIX + "".join(secrets.choice(_GROUP_ALPHABET) for _ in range(_GROUP_ID_LENGTH))


def user_of_client_id(client_id: str) -> str | None:
    """The user a client id belongs to (`<user>` or `<user>:<tag>`), or None if malformed."""
    user, sep, tag = client_id.partition(":")
    if not is_user_id(user):
        return None
    if sep and CLIENT_TAG.fullmatch(tag) is None:
        return None
    return user

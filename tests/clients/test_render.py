"""How the CLI prints a message (clients.cli.format_message)."""

from __future__ import annotations

from typing import Any

import pytest

from backend import wire
from clients.cli import format_message


def message(**fields: Any) -> wire.Message:
    base = {"conv": "dm:alice:bob", "seq": 3, "from": "alice", "ts": 1, "kind": "text"}
    return wire.Message.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"text": "hello"}, "[dm:alice:bob #3] alice: hello"),
        ({"text": "two\nlines\r"}, "[dm:alice:bob #3] alice: two\\nlines\\r"),
        (
            {
                "kind": "image",
                "text": "cat",
                "media": {"id": "m", "mime": "image/png", "size": 1, "sha256": "x"},
            },
            "[dm:alice:bob #3] alice: <image> cat",
        ),
        (
            {"kind": "voice", "media": {"id": "m", "mime": "audio/ogg", "size": 1, "sha256": "x"}},
            "[dm:alice:bob #3] alice: <voice>",
        ),
        (
            {"kind": "event", "event": {"type": "member_added", "users": ["bob", "carol"]}},
            "[dm:alice:bob #3] alice: * member_added bob, carol",
        ),
        (
            {"kind": "event", "event": {"type": "renamed", "name": "Team"}},
            "[dm:alice:bob #3] alice: * renamed 'Team'",
        ),
    ],
)
def test_one_line_per_message(fields: dict[str, Any], line: str) -> None:
    assert format_message(message(**fields)) == line

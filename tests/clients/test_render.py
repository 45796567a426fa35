"""Messages as lines of text, in words (clients.render)."""

from __future__ import annotations

from typing import Any

import pytest

from backend import wire
from clients.models import Conversation
from clients.render import format_conversation, format_duration, format_message, format_size

IMAGE = {
    "id": "Img1",
    "mime": "image/jpeg",
    "size": 217_088,
    "sha256": "x",
    "width": 1024,
    "height": 768,
}
VOICE = {"id": "Voc1", "mime": "audio/ogg", "size": 49_152, "sha256": "x", "duration_ms": 7_000}


def message(**fields: Any) -> wire.Message:
    base = {"conv": "dm:alice:bob", "seq": 3, "from": "alice", "ts": 1, "kind": "text"}
    return wire.Message.model_validate({**base, **fields})


def event(type_: str, actor: str = "alice", **fields: Any) -> str:
    return format_message(
        message(
            conv="g:Abc", seq=2, kind="event", event={"type": type_, **fields}, **{"from": actor}
        )
    )


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"text": "hello"}, "[dm:alice:bob #3] alice: hello"),
        ({"text": "two\nlines\r"}, "[dm:alice:bob #3] alice: two\\nlines\\r"),
        (
            {"kind": "image", "text": "at the crag", "media": IMAGE},
            "[dm:alice:bob #3] alice: [image 1024x768, 212 KB, id Img1] at the crag",
        ),
        (
            {"kind": "voice", "media": VOICE},
            "[dm:alice:bob #3] alice: [voice 0:07, 48 KB, id Voc1]",
        ),
        (
            {"kind": "voice", "media": {**VOICE, "duration_ms": None}, "text": "webm\nlive"},
            "[dm:alice:bob #3] alice: [voice, 48 KB, id Voc1] webm\\nlive",
        ),
        ({"kind": "image", "text": "lost"}, "[dm:alice:bob #3] alice: [image] lost"),
    ],
)
def test_one_line_per_message(fields: dict[str, Any], line: str) -> None:
    assert format_message(message(**fields)) == line


def test_group_events_in_words() -> None:
    created = event("created", users=["alice", "bob", "carol"], name="Climbing")
    assert created == '[g:Abc #2] alice created the group "Climbing" with bob, carol'
    assert (
        event("created", users=["alice"], name="Solo")
        == '[g:Abc #2] alice created the group "Solo"'
    )
    assert event("member_added", users=["carol"]) == "[g:Abc #2] alice added carol"
    assert event("member_added", users=["carol", "dave"]) == "[g:Abc #2] alice added carol, dave"
    assert event("member_removed", users=["carol"]) == "[g:Abc #2] alice removed carol"
    assert event("member_left", "carol", users=["carol"]) == "[g:Abc #2] carol left"
    assert event("admin_added", users=["bob"]) == "[g:Abc #2] alice made bob an admin"
    assert event("admin_removed", users=["bob"]) == "[g:Abc #2] alice removed bob as admin"
    assert event("renamed", name="Crag") == '[g:Abc #2] alice renamed the group to "Crag"'
    # A name cannot break the line.
    assert (
        event("renamed", name="two\nlines") == '[g:Abc #2] alice renamed the group to "two\\nlines"'
    )


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1 KB"), (217_088, "212 KB"), (3_565_158, "3.4 MB")],
)
def test_sizes(size: int, shown: str) -> None:
    assert format_size(size) == shown


@pytest.mark.parametrize(
    ("milliseconds", "shown"),
    [
        (0, "0:00"),
        (7_000, "0:07"),
        (7_499, "0:07"),
        (7_500, "0:08"),
        (6_500, "0:07"),
        (750_000, "12:30"),
        (3_723_000, "1:02:03"),
    ],
)
def test_durations(milliseconds: int, shown: str) -> None:
    assert format_duration(milliseconds) == shown


def test_conversations() -> None:
    group = Conversation(
        conv="g:Abc",
        kind="group",
        name="Climbing",
        members=["alice", "bob"],
        admins=["alice"],
        last_seq=4,
    )
    assert format_conversation(group) == 'g:Abc "Climbing": alice (admin), bob'
    dm = Conversation(conv="dm:alice:bob", kind="dm", members=["alice", "bob"], last_seq=1)
    assert format_conversation(dm) == "dm:alice:bob: alice, bob"

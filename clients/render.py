"""Messages as one line of text each, in words: what `mqchat listen` and `history` print.

    [dm:alice:bob #3] alice: hello
    [g:Xq3 #1] alice created the group "Climbing" with bob, carol
    [dm:alice:bob #4] alice: [image 1024x768, 212 KB, id Rk2...] caption
    [dm:alice:bob #5] alice: [voice 0:07, 48 KB, id 9fQ...]

A media message names its media id, since that is what `mqchat media get` takes.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from backend import wire
from clients.models import Conversation

KIB = 1024
MIB = 1024 * KIB


def format_message(message: wire.Message) -> str:
    """One line: `[dm:alice:bob #3] alice: hello`; line breaks in any text are escaped."""
    if message.kind == "event" and message.event is not None:
        body = describe_event(message.sender, message.event)
    elif message.kind in ("image", "voice"):
        summary = media_summary(message.kind, message.media)
        body = f"{message.sender}: {summary} {message.text or ''}".rstrip()
    else:
        body = f"{message.sender}: {message.text or ''}"
    return f"[{message.conv} #{message.seq}] {one_line(body)}"


def describe_event(actor: str, event: wire.GroupEvent) -> str:
    """A group change in words, e.g. `alice added carol` or `carol left`."""
    users = ", ".join(event.users)
    match event.type:
        case "created":
            others = ", ".join(user for user in event.users if user != actor)
            with_others = f" with {others}" if others else ""
            return f"{actor} created the group {quoted(event.name)}{with_others}"
        case "member_added":
            return f"{actor} added {users}"
        case "member_removed":
            return f"{actor} removed {users}"
        case "member_left":
            # `users` is who left: the actor itself, unless the server says otherwise.
            return f"{users or actor} left"
        case "admin_added":
            return f"{actor} made {users} an admin"
        case "admin_removed":
            return f"{actor} removed {users} as admin"
        case "renamed":
            return f"{actor} renamed the group to {quoted(event.name)}"


def format_conversation(conversation: Conversation) -> str:
    """`g:Xq3 "Climbing": alice (admin), bob, carol`; a 1:1 conversation has no name."""
    members = ", ".join(
        f"{member} (admin)" if member in conversation.admins else member
        for member in conversation.members
    )
    name = f" {quoted(conversation.name)}" if conversation.kind == "group" else ""
    return one_line(f"{conversation.conv}{name}: {members}")


def media_summary(kind: str, media: wire.MediaInfo | None) -> str:
    """`[image 1024x768, 212 KB, id ...]` or `[voice 0:07, 48 KB, id ...]`; what is unknown is left out."""
    if media is None:
        return f"[{kind}]"
    shape = None
    if media.width is not None and media.height is not None:
        shape = f"{media.width}x{media.height}"
    elif media.duration_ms is not None:
        shape = format_duration(media.duration_ms)
    head = f"{kind} {shape}" if shape else kind
    return f"[{head}, {format_size(media.size)}, id {media.id}]"


def format_size(size: int) -> str:
    """Bytes for people: `812 B`, `212 KB`, `3.4 MB` (binary units, as file managers show)."""
    if size < KIB:
        return f"{size} B"
    if size < MIB:
        return f"{round(size / KIB)} KB"
    return f"{size / MIB:.1f} MB"


def format_duration(milliseconds: int) -> str:
    """`0:07`, `12:30`, `1:02:03`: a voice note's length, to the nearest second."""
    seconds = (milliseconds + 500) // 1000  # half up (round() would make 6.5 s 0:06)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def quoted(name: str | None) -> str:
    """A group name in double quotes (`"Climbing"`), or `(no name)`."""
    return f'"{name}"' if name is not None else "(no name)"


def one_line(text: str) -> str:
    """Escape line breaks, so that one message is always one line of output."""
    return text.replace("\r", "\\r").replace("\n", "\\n")

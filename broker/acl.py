"""Who may publish to and subscribe to which topic: pure rules over strings.

The broker asks these for every PUBLISH and SUBSCRIBE. Topic strings are parsed by
`backend.topics`, the one module that knows their shape; this module only decides.

A user may publish only to its own request topics, `chat/u/<me>/<kind>`, and subscribe
only to filters inside its inbox, `chat/u/<me>/in/#`, and to `presence/<user>` for itself
and for users it shares a conversation with. The backend account publishes inboxes and
presence and subscribes to the request topics of every user. Everything else is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from backend.accounts import BACKEND_USERNAME
from backend.ids import is_user_id
from backend.topics import (
    CONNECTIONS_TOPIC,
    backend_filters,
    inbox_filter,
    parse_client_topic,
    parse_inbox_topic,
    parse_presence_topic,
    will_topic,
)

SharesConversation = Callable[[str, str], bool]
"""`shares(me, other)`: True when both are current members of one conversation."""

_MULTI_LEVEL = "#"
_SINGLE_LEVEL = "+"
_MAX_TOPIC_BYTES = 65_535  # an MQTT string's length prefix is two bytes
_BACKEND_FILTERS = frozenset(backend_filters())


def is_valid_topic_name(topic: str) -> bool:
    """A topic a PUBLISH may name: not empty, no wildcard, no NUL, within MQTT's size."""
    return (
        bool(topic)
        and _MULTI_LEVEL not in topic
        and _SINGLE_LEVEL not in topic
        and "\x00" not in topic
        and len(topic.encode("utf-8", "surrogatepass")) <= _MAX_TOPIC_BYTES
    )


def is_valid_topic_filter(topic_filter: str) -> bool:
    """A well-formed filter: `+` and `#` fill a whole level, `#` only as the last one."""
    if not topic_filter or "\x00" in topic_filter:
        return False
    if len(topic_filter.encode("utf-8", "surrogatepass")) > _MAX_TOPIC_BYTES:
        return False
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if _MULTI_LEVEL in level and (level != _MULTI_LEVEL or index != len(levels) - 1):
            return False
        if _SINGLE_LEVEL in level and level != _SINGLE_LEVEL:
            return False
    return True


def filter_covers(outer: str, inner: str) -> bool:
    """True when every topic that well-formed filter `inner` matches, `outer` matches too."""
    outer_levels = outer.split("/")
    inner_levels = inner.split("/")
    for index, outer_level in enumerate(outer_levels):
        if outer_level == _MULTI_LEVEL:
            # `a/#` also matches `a` itself, so `inner` may end one level early.
            return True
        if index >= len(inner_levels):
            return False
        inner_level = inner_levels[index]
        if inner_level == _MULTI_LEVEL:
            return False  # any depth below: more than a non-`#` level can match
        if outer_level != _SINGLE_LEVEL and outer_level != inner_level:
            return False  # a different literal, or `+` under a literal
    return len(inner_levels) == len(outer_levels)


def may_publish(account: str, topic: str) -> bool:
    """May the broker account `account` (a user id or the backend's) publish to `topic`?"""
    if not is_valid_topic_name(topic):
        return False
    if account == BACKEND_USERNAME:
        return _backend_may_publish(topic)
    publication = parse_client_topic(topic)
    return publication is not None and publication.user == account


def may_subscribe(account: str, topic_filter: str, shares: SharesConversation) -> bool:
    """May `account` subscribe to `topic_filter`? `shares` is asked only for presence."""
    if not is_valid_topic_filter(topic_filter):
        return False
    if account == BACKEND_USERNAME:
        return (
            topic_filter in _BACKEND_FILTERS
            or topic_filter == CONNECTIONS_TOPIC
            or parse_client_topic(topic_filter) is not None
        )
    if not is_user_id(account):
        return False
    if filter_covers(inbox_filter(account), topic_filter):
        return True
    other = parse_presence_topic(topic_filter)
    return other is not None and (other == account or shares(account, other))


def presence_of_other(account: str, topic: str) -> str | None:
    """The user whose presence `topic` carries, when a user receives another's; else None."""
    if account == BACKEND_USERNAME:
        return None
    other = parse_presence_topic(topic)
    return other if other is not None and other != account else None


def is_allowed_will(account: str, topic: str) -> bool:
    """A user's will may only announce its own presence; the backend's obeys `may_publish`."""
    if account == BACKEND_USERNAME:
        return may_publish(account, topic)
    return is_user_id(account) and topic == will_topic(account)


def _backend_may_publish(topic: str) -> bool:
    inbox = parse_inbox_topic(topic)
    if inbox is not None:
        return is_user_id(inbox[0])
    return parse_presence_topic(topic) is not None


def may_retain(account: str | None, topic: str) -> bool:
    """May a PUBLISH (or will) with RETAIN from `account` be kept as the topic's retained one?

    Only the backend's (`presence/<user>`). A client's retained request would be handed
    to the backend again, as if new, each time it subscribes: a stale "online", say.
    """
    return account == BACKEND_USERNAME and may_publish(account, topic)

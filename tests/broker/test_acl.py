"""The topic rules of broker.acl, case by case."""

from __future__ import annotations

import itertools

import pytest

from backend.accounts import BACKEND_USERNAME
from backend.topics import ClientTopic, InboxTopic, client_topic, inbox_topic
from broker import acl

ME = "alice"
FRIEND = "bob"  # shares a conversation with alice
STRANGER = "eve"


def shares(user: str, other: str) -> bool:
    return {user, other} == {ME, FRIEND}


def refuse_lookup(user: str, other: str) -> bool:
    raise AssertionError("the directory must not be asked for this filter")


# Publishing


@pytest.mark.parametrize("kind", list(ClientTopic))
def test_user_publishes_to_each_own_request_topic(kind: ClientTopic) -> None:
    assert acl.may_publish(ME, client_topic(ME, kind))


@pytest.mark.parametrize(
    "topic",
    [
        client_topic(FRIEND, ClientTopic.SEND),
        client_topic(STRANGER, ClientTopic.PRESENCE),
        inbox_topic(ME, InboxTopic.MSG),
        inbox_topic(FRIEND, InboxTopic.MSG),
        f"presence/{ME}",
        f"presence/{FRIEND}",
        f"chat/u/{ME}",
        f"chat/u/{ME}/",
        f"chat/u/{ME}/sendx",
        f"chat/u/{ME}/send/",
        f"chat/u/{ME}/send/x",
        f"chat/u/{ME}/in",
        f"/chat/u/{ME}/send",
        f"chat//u/{ME}/send",
        f"Chat/u/{ME}/send",
        "chat/u/+/send",
        f"chat/u/{ME}/+",
        f"chat/u/{ME}/#",
        "#",
        "$SYS/broker",
        "",
        "anything",
        f"chat/u/{ME}/send\x00",
    ],
)
def test_user_publishes_nowhere_else(topic: str) -> None:
    assert not acl.may_publish(ME, topic)


@pytest.mark.parametrize(
    "topic",
    [inbox_topic(user, kind) for user, kind in itertools.product((ME, FRIEND), InboxTopic)]
    + [f"presence/{ME}", f"presence/{STRANGER}"],
)
def test_backend_publishes_inboxes_and_presence(topic: str) -> None:
    assert acl.may_publish(BACKEND_USERNAME, topic)


@pytest.mark.parametrize(
    "topic",
    [
        client_topic(ME, ClientTopic.SEND),
        "chat/u/+/in/msg",
        f"chat/u/{ME}/in/+",
        f"chat/u/{ME}/in/other",
        f"chat/u/{ME}/in/msg/x",
        "chat/u/Not_A_User/in/msg",
        "presence/+",
        "presence/",
        "presence/Bad",
        f"presence/{ME}/x",
        "$SYS/x",
        "",
    ],
)
def test_backend_publishes_nowhere_else(topic: str) -> None:
    assert not acl.may_publish(BACKEND_USERNAME, topic)


def test_an_account_that_is_not_a_user_publishes_nowhere() -> None:
    assert not acl.may_publish("Not A User", client_topic("Not A User", ClientTopic.SEND))
    assert not acl.may_publish("_mqchat2", "chat/u/alice/in/msg")


# Subscribing


@pytest.mark.parametrize(
    "topic_filter",
    [
        f"chat/u/{ME}/in/#",
        f"chat/u/{ME}/in/msg",
        f"chat/u/{ME}/in/+",
        f"chat/u/{ME}/in/+/#",
        f"chat/u/{ME}/in/anything/deeper",
        f"chat/u/{ME}/in",  # matches no topic, but lies inside in/#
    ]
    + [inbox_topic(ME, kind) for kind in InboxTopic],
)
def test_user_subscribes_inside_own_inbox(topic_filter: str) -> None:
    assert acl.may_subscribe(ME, topic_filter, refuse_lookup)


def test_user_subscribes_to_own_presence_without_a_lookup() -> None:
    assert acl.may_subscribe(ME, f"presence/{ME}", refuse_lookup)


def test_user_subscribes_to_presence_of_whom_it_shares_a_conversation_with() -> None:
    assert acl.may_subscribe(ME, f"presence/{FRIEND}", shares)
    assert not acl.may_subscribe(ME, f"presence/{STRANGER}", shares)


def test_presence_is_asked_with_the_subscriber_first() -> None:
    asked: list[tuple[str, str]] = []

    def record(user: str, other: str) -> bool:
        asked.append((user, other))
        return False

    acl.may_subscribe(ME, f"presence/{FRIEND}", record)
    assert asked == [(ME, FRIEND)]


@pytest.mark.parametrize(
    "topic_filter",
    [
        "#",
        "+",
        "+/#",
        "+/u/alice/in/#",
        "chat/#",
        "chat/u/#",
        "chat/u/+/in/#",
        "chat/u/+/in/msg",
        f"chat/u/{ME}/#",
        f"chat/u/{ME}/+",
        f"chat/u/{ME}/+/msg",
        f"chat/u/{ME}/send",
        f"chat/u/{FRIEND}/in/#",
        f"chat/u/{FRIEND}/in/msg",
        f"chat/u/{ME}x/in/#",
        f"chat/u/{ME}/inx/#",
        f"chat/u/{ME}/in/#/msg",  # '#' not last
        f"chat/u/{ME}/in/a#",
        f"chat/u/{ME}/in/a+b",
        f"chat/u/{ME}/in/+x",
        f"chat/u/{ME}/in/msg\x00",
        f"/chat/u/{ME}/in/#",
        "presence/+",
        "presence/#",
        "presence",
        "presence/",
        f"presence/{FRIEND}/#",
        f"presence/{FRIEND}/x",
        "presence/Not_A_User",
        "$SYS/#",
        "$SYS/broker/clients",
        "",
    ],
)
def test_user_subscribes_nowhere_else(topic_filter: str) -> None:
    # `shares` says yes to everyone here, so only the filter's shape can refuse.
    assert not acl.may_subscribe(ME, topic_filter, lambda user, other: True)


@pytest.mark.parametrize(
    "topic_filter",
    [f"chat/u/+/{kind.value}" for kind in ClientTopic]
    + [client_topic(user, kind) for user, kind in itertools.product((ME, FRIEND), ClientTopic)],
)
def test_backend_subscribes_to_requests(topic_filter: str) -> None:
    assert acl.may_subscribe(BACKEND_USERNAME, topic_filter, refuse_lookup)


@pytest.mark.parametrize(
    "topic_filter",
    [
        "#",
        "chat/#",
        "chat/u/#",
        "chat/u/+/+",
        "chat/u/+/#",
        "chat/u/+/in/#",
        f"chat/u/{ME}/#",
        f"chat/u/{ME}/in/#",
        "+/u/+/send",
        "chat/+/+/send",
        "chat/u/+/sendx",
        "presence/+",
        f"presence/{ME}",
        "$SYS/#",
        "",
    ],
)
def test_backend_subscribes_nowhere_else(topic_filter: str) -> None:
    assert not acl.may_subscribe(BACKEND_USERNAME, topic_filter, lambda user, other: True)


def test_an_account_that_is_not_a_user_subscribes_nowhere() -> None:
    assert not acl.may_subscribe("Not A User", "chat/u/Not A User/in/#", shares)


# Filters


@pytest.mark.parametrize(
    ("outer", "inner", "covered"),
    [
        ("a/#", "a", True),
        ("a/#", "a/#", True),
        ("a/#", "a/b/c", True),
        ("a/#", "a/+/c", True),
        ("a/#", "#", False),
        ("a/#", "+", False),
        ("a/#", "+/b", False),
        ("a/#", "b/#", False),
        ("a/+", "a/b", True),
        ("a/+", "a/+", True),
        ("a/+", "a/#", False),
        ("a/+", "a/b/c", False),
        ("a/+", "a", False),
        ("a/b", "a/b", True),
        ("a/b", "a/+", False),
        ("a/b", "a/b/c", False),
        ("#", "anything/at/all", True),
        ("+/+", "a/b", True),
        ("+/+", "a", False),
    ],
)
def test_filter_covers(outer: str, inner: str, covered: bool) -> None:
    assert acl.filter_covers(outer, inner) is covered


@pytest.mark.parametrize(
    ("topic_filter", "valid"),
    [
        ("a", True),
        ("a/b", True),
        ("#", True),
        ("+", True),
        ("a/+/b/#", True),
        ("/", True),
        ("a//b", True),
        ("", False),
        ("a/#/b", False),
        ("a#", False),
        ("a/b#", False),
        ("a+", False),
        ("a/+b", False),
        ("##", False),
        ("a\x00", False),
        ("a" * 65_536, False),
    ],
)
def test_valid_filters(topic_filter: str, valid: bool) -> None:
    assert acl.is_valid_topic_filter(topic_filter) is valid


@pytest.mark.parametrize(
    ("topic", "valid"),
    [
        ("a", True),
        ("a/b", True),
        ("$SYS/x", True),  # a name like any other; whether to allow it is a policy
        ("", False),
        ("a/+", False),
        ("a/#", False),
        ("a\x00", False),
        ("a" * 65_536, False),
    ],
)
def test_valid_topic_names(topic: str, valid: bool) -> None:
    assert acl.is_valid_topic_name(topic) is valid


# Wills and retained messages


def test_a_user_will_announces_only_its_own_presence() -> None:
    assert acl.is_allowed_will(ME, client_topic(ME, ClientTopic.PRESENCE))
    assert not acl.is_allowed_will(ME, client_topic(ME, ClientTopic.SEND))
    assert not acl.is_allowed_will(ME, client_topic(FRIEND, ClientTopic.PRESENCE))
    assert not acl.is_allowed_will(ME, f"presence/{ME}")
    assert not acl.is_allowed_will("Not A User", "chat/u/Not A User/presence")


def test_a_backend_will_goes_where_the_backend_publishes() -> None:
    assert acl.is_allowed_will(BACKEND_USERNAME, f"presence/{ME}")
    assert not acl.is_allowed_will(BACKEND_USERNAME, client_topic(ME, ClientTopic.PRESENCE))


def test_only_the_backend_retains() -> None:
    assert acl.may_retain(BACKEND_USERNAME, f"presence/{ME}")
    assert not acl.may_retain(BACKEND_USERNAME, "$SYS/x")
    assert not acl.may_retain(ME, client_topic(ME, ClientTopic.PRESENCE))
    assert not acl.may_retain(None, f"presence/{ME}")


def test_presence_of_other_names_whom_a_delivery_concerns() -> None:
    assert acl.presence_of_other("alice", "presence/bob") == "bob"
    assert acl.presence_of_other("alice", "presence/alice") is None
    assert acl.presence_of_other("alice", "chat/u/alice/in/msg") is None
    assert acl.presence_of_other(BACKEND_USERNAME, "presence/bob") is None

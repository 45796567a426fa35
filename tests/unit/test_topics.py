import pytest

from backend import topics
from backend.topics import ClientTopic, InboxTopic


def test_client_topics_round_trip() -> None:
    for kind in ClientTopic:
        topic = topics.client_topic("alice", kind)
        assert topic == f"chat/u/alice/{kind.value}"
        parsed = topics.parse_client_topic(topic)
        assert parsed is not None
        assert (parsed.user, parsed.kind) == ("alice", kind)


@pytest.mark.parametrize(
    "topic",
    [
        "chat/u/alice/in/msg",
        "chat/u/alice/unknown",
        "chat/u/Alice/send",
        "chat/u/+/send",
        "chat/x/alice/send",
        "chat/u/alice/send/",
        "/chat/u/alice/send",
        "chat/u//send",
        "",
    ],
)
def test_parse_client_topic_rejects_everything_else(topic: str) -> None:
    assert topics.parse_client_topic(topic) is None


def test_inbox_topics_round_trip() -> None:
    for kind in InboxTopic:
        topic = topics.inbox_topic("bob", kind)
        assert topics.parse_inbox_topic(topic) == ("bob", kind)
    assert topics.parse_inbox_topic("chat/u/bob/in/nope") is None
    assert topics.parse_inbox_topic("chat/u/bob/send") is None


def test_presence_and_will_topics() -> None:
    assert topics.presence_topic("bob") == "presence/bob"
    assert topics.parse_presence_topic("presence/bob") == "bob"
    assert topics.parse_presence_topic("presence/+") is None
    assert topics.parse_presence_topic("presence/bob/x") is None
    assert topics.will_topic("bob") == "chat/u/bob/presence"


def test_backend_filters_cover_every_request_kind() -> None:
    filters = topics.backend_filters()
    assert sorted(filters) == sorted(f"chat/u/+/{kind.value}" for kind in ClientTopic)
    assert topics.inbox_filter("bob") == "chat/u/bob/in/#"

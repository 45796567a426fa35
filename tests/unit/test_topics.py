import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import topics
from backend.ids import USER_ID, is_user_id
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


# Topic levels as a hostile client writes them: real names, wildcards, empty levels, NUL,
# lone surrogates (a broker hands the parser whatever UTF-8 decoding let through), unicode.
LEVELS = st.sampled_from(
    ["chat", "u", "in", "presence", "alice", "bob", "+", "#", "", "\x00", "$SYS", "_mqchat"]
    + [kind.value for kind in ClientTopic]
    + [kind.value for kind in InboxTopic]
) | st.text(alphabet=st.characters() | st.characters(categories=["Cs"]), max_size=12)
SHAPES = st.sampled_from(["chat/u/{}/{}", "chat/u/{}/in/{}", "presence/{}{}", "{}/{}"])
TOPICS = (
    st.builds(str.format, SHAPES, LEVELS, LEVELS)
    | st.lists(LEVELS, max_size=7).map("/".join)
    | st.text(max_size=60)
)


@settings(max_examples=500)
@given(topic=TOPICS)
def test_the_parsers_accept_exactly_what_the_builders_make(topic: str) -> None:
    """Whatever the string, no parser raises, and a parsed topic rebuilds to the same string
    with a valid user id: nothing odd slips through as a user."""
    client = topics.parse_client_topic(topic)
    if client is not None:
        assert is_user_id(client.user)
        assert topics.client_topic(client.user, client.kind) == topic
    inbox = topics.parse_inbox_topic(topic)
    if inbox is not None:
        assert is_user_id(inbox[0])
        assert topics.inbox_topic(*inbox) == topic
    presence_user = topics.parse_presence_topic(topic)
    if presence_user is not None:
        assert is_user_id(presence_user)
        assert topics.presence_topic(presence_user) == topic


@given(
    user=st.from_regex(USER_ID, fullmatch=True),
    client_kind=st.sampled_from(list(ClientTopic)),
    inbox_kind=st.sampled_from(list(InboxTopic)),
)
def test_every_valid_user_round_trips(
    user: str, client_kind: ClientTopic, inbox_kind: InboxTopic
) -> None:
    parsed = topics.parse_client_topic(topics.client_topic(user, client_kind))
    assert parsed is not None and (parsed.user, parsed.kind) == (user, client_kind)
    assert topics.parse_inbox_topic(topics.inbox_topic(user, inbox_kind)) == (user, inbox_kind)
    assert topics.parse_presence_topic(topics.presence_topic(user)) == user


@pytest.mark.parametrize(
    "topic", ["chat/u/+/in/msg", "chat/u//in/msg", "chat/u/#/in/ack", "chat/u/Bob/in/msg"]
)
def test_parse_inbox_topic_rejects_what_is_no_user(topic: str) -> None:
    assert topics.parse_inbox_topic(topic) is None

"""TopicIndex finds exactly the filters that amqtt's own matcher would."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from amqtt.broker import Broker
from hypothesis import given
from hypothesis import strategies as st

from broker.acl import is_valid_topic_filter
from broker.topic_index import TopicIndex

_AMQTT = SimpleNamespace(logger=logging.getLogger("test"))


def amqtt_matches(topic: str, topic_filter: str) -> bool:
    """amqtt's matcher (correct, but tried on every filter for every message)."""
    return bool(Broker._matches(_AMQTT, topic, topic_filter))


LEVELS = st.sampled_from(["a", "b", "$x", ""])
TOPICS = st.lists(LEVELS, min_size=1, max_size=4).map("/".join)
FILTERS = (
    st.lists(st.sampled_from(["a", "b", "$x", "", "+", "#"]), min_size=1, max_size=4)
    .map("/".join)
    .filter(is_valid_topic_filter)
)


@given(st.sets(FILTERS, max_size=12), TOPICS)
def test_matches_what_amqtt_matches(filters: set[str], topic: str) -> None:
    index = TopicIndex()
    for topic_filter in filters:
        index.add(topic_filter)
    expected = sorted(f for f in filters if amqtt_matches(topic, f))
    assert sorted(index.matching(topic)) == expected


@given(st.sets(FILTERS, max_size=12), st.data())
def test_discarded_filters_match_nothing(filters: set[str], data: st.DataObject) -> None:
    index = TopicIndex()
    for topic_filter in filters:
        index.add(topic_filter)
    gone = data.draw(st.sets(st.sampled_from(sorted(filters))) if filters else st.just(set()))
    for topic_filter in gone:
        index.discard(topic_filter)
    topic = data.draw(TOPICS)
    expected = sorted(f for f in filters - gone if amqtt_matches(topic, f))
    assert sorted(index.matching(topic)) == expected


def test_discard_removes_levels_no_one_uses() -> None:
    index = TopicIndex()
    index.add("chat/u/alice/in/#")
    index.add("chat/u/bob/in/#")
    index.discard("chat/u/alice/in/#")
    index.discard("chat/u/alice/in/#")  # twice is harmless
    index.discard("never/added")
    assert index._root.children["chat"].children["u"].children.keys() == {"bob"}
    index.discard("chat/u/bob/in/#")
    assert index._root.children == {}


def test_examples() -> None:
    index = TopicIndex()
    for topic_filter in ("chat/u/+/send", "chat/u/alice/in/#", "presence/alice", "#"):
        index.add(topic_filter)
    assert sorted(index.matching("chat/u/alice/send")) == ["#", "chat/u/+/send"]
    assert sorted(index.matching("chat/u/alice/in")) == ["#", "chat/u/alice/in/#"]
    assert sorted(index.matching("chat/u/alice/in/msg")) == ["#", "chat/u/alice/in/#"]
    assert index.matching("$SYS/uptime") == []

"""The subscription filters, level by level, to find those matching a topic quickly.

amqtt tries every filter of every client against every message: with 20,000 users each
subscribed to `chat/u/<me>/in/#`, that is 20,000 matches per message. Walking a tree of
filter levels costs a few steps per level of the topic instead, whatever the number
of filters.
"""

from __future__ import annotations

_MULTI = "#"
_SINGLE = "+"


class _Level:
    __slots__ = ("children", "topic_filter")

    def __init__(self) -> None:
        self.children: dict[str, _Level] = {}
        self.topic_filter: str | None = None  # the filter that ends at this level


class TopicIndex:
    """A set of well-formed topic filters that answers "which match this topic?"."""

    def __init__(self) -> None:
        self._root = _Level()

    def add(self, topic_filter: str) -> None:
        level = self._root
        for name in topic_filter.split("/"):
            level = level.children.setdefault(name, _Level())
        level.topic_filter = topic_filter

    def discard(self, topic_filter: str) -> None:
        """Forget `topic_filter` (if present), and the levels only it used."""
        path = [self._root]
        for name in topic_filter.split("/"):
            child = path[-1].children.get(name)
            if child is None:
                return
            path.append(child)
        path[-1].topic_filter = None
        names = topic_filter.split("/")
        for depth in range(len(names), 0, -1):
            level = path[depth]
            if level.children or level.topic_filter is not None:
                return
            del path[depth - 1].children[names[depth - 1]]

    def matching(self, topic: str) -> list[str]:
        """The filters that match `topic` under MQTT 3.1.1 rules [MQTT-4.7]."""
        names = topic.split("/")
        found: list[str] = []
        # Wildcards in the first level do not match topics starting with $ [MQTT-4.7.2-1].
        wildcards_first = not topic.startswith("$")
        pending = [(self._root, 0)]
        while pending:  # at most one entry per filter level: bounded by the index's size
            level, depth = pending.pop()
            wildcards = depth > 0 or wildcards_first
            multi = level.children.get(_MULTI) if wildcards else None
            if multi is not None and multi.topic_filter is not None:
                found.append(multi.topic_filter)  # `a/#` matches `a` and all below it
            if depth == len(names):
                if level.topic_filter is not None:
                    found.append(level.topic_filter)
                continue
            exact = level.children.get(names[depth])
            if exact is not None:
                pending.append((exact, depth + 1))
            single = level.children.get(_SINGLE) if wildcards else None
            if single is not None:
                pending.append((single, depth + 1))
        return found

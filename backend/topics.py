"""Every MQTT topic string of the contract is built and parsed here, and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from backend.ids import is_user_id

USER_ROOT = "chat/u"
PRESENCE_ROOT = "presence"
# Where the embedded broker reports connections to the backend (nobody else may read it).
CONNECTIONS_TOPIC = "_mqchat/connections"


class ClientTopic(StrEnum):
    """What a client publishes, under `chat/u/<me>/`."""

    SEND = "send"
    RECEIPT = "receipt"
    TYPING = "typing"
    SYNC = "sync"
    PRESENCE = "presence"


class InboxTopic(StrEnum):
    """What the server publishes to a user, under `chat/u/<user>/in/`."""

    ACK = "ack"
    MSG = "msg"
    RECEIPT = "receipt"
    TYPING = "typing"
    SYNC = "sync"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ClientPublication:
    """A parsed client topic: who published and what kind of request it is."""

    user: str
    kind: ClientTopic


def client_topic(user: str, kind: ClientTopic) -> str:
    return f"{USER_ROOT}/{user}/{kind.value}"


def inbox_topic(user: str, kind: InboxTopic) -> str:
    return f"{USER_ROOT}/{user}/in/{kind.value}"


def inbox_filter(user: str) -> str:
    """The filter covering everything the server sends to `user`."""
    return f"{USER_ROOT}/{user}/in/#"


def presence_topic(user: str) -> str:
    return f"{PRESENCE_ROOT}/{user}"


def will_topic(user: str) -> str:
    """The only will topic a client may set."""
    return client_topic(user, ClientTopic.PRESENCE)


def backend_filters() -> list[str]:
    """The subscriptions of the backend: every client request topic of every user."""
    return [f"{USER_ROOT}/+/{kind.value}" for kind in ClientTopic]


def parse_client_topic(topic: str) -> ClientPublication | None:
    """`chat/u/<user>/<kind>` to its parts; None for anything else."""
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != USER_ROOT:
        return None
    user, kind = parts[2], parts[3]
    if not is_user_id(user):
        return None
    try:
        return ClientPublication(user, ClientTopic(kind))
    except ValueError:
        return None


def parse_inbox_topic(topic: str) -> tuple[str, InboxTopic] | None:
    """`chat/u/<user>/in/<kind>` to `(user, kind)`; None for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != USER_ROOT or parts[3] != "in":
        return None
    if not is_user_id(parts[2]):  # a wildcard, an empty level: no user's inbox
        return None
    try:
        return parts[2], InboxTopic(parts[4])
    except ValueError:
        return None


def parse_presence_topic(topic: str) -> str | None:
    """`presence/<user>` to the user; None for anything else."""
    root, sep, user = topic.partition("/")
    if root != PRESENCE_ROOT or not sep or not is_user_id(user):
        return None
    return user

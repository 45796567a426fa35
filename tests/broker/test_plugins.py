"""Who may connect, and which topics they may use, through a real broker and paho."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from amqtt.mqtt.connack import NOT_AUTHORIZED

from backend.accounts import (
    BACKEND_CLIENT_ID,
    BACKEND_USERNAME,
    backend_password,
    hash_token,
    new_token,
)
from backend.settings import Settings
from backend.store.sqlite import SqliteStore
from tests.broker.raw import RawClient, connack
from tests.broker.support import Accounts, Peer, RunningBroker, add_users, broker_settings, tokens

PRESENCE_WILL = ("chat/u/alice/presence", b'{"state":"offline"}', 1)


def test_the_backend_connects_with_its_secret(
    peer: Callable[..., Peer], accounts: Accounts
) -> None:
    backend = peer(BACKEND_USERNAME, accounts.backend_password, client_id=BACKEND_CLIENT_ID)
    assert backend.connect()[0] == 0


def test_a_second_backend_connection_uses_a_tagged_client_id(
    peer: Callable[..., Peer], accounts: Accounts
) -> None:
    second = peer(BACKEND_USERNAME, accounts.backend_password, client_id=f"{BACKEND_CLIENT_ID}:2")
    assert second.connect()[0] == 0


@pytest.mark.parametrize(
    ("username", "password", "client_id"),
    [
        (BACKEND_USERNAME, "wrong", BACKEND_CLIENT_ID),
        (BACKEND_USERNAME, "", BACKEND_CLIENT_ID),
        (BACKEND_USERNAME, "é" * 43, BACKEND_CLIENT_ID),  # non-ASCII: compared as bytes
        (BACKEND_USERNAME, None, BACKEND_CLIENT_ID),
        (BACKEND_USERNAME, "{secret}", "alice"),
        (BACKEND_USERNAME, "{secret}", f"{BACKEND_CLIENT_ID}:bad tag"),
        (BACKEND_USERNAME, "{secret}", "_mqchat-backend2"),
    ],
)
def test_the_backend_account_is_refused_otherwise(
    raw: Callable[[], RawClient],
    accounts: Accounts,
    username: str,
    password: str | None,
    client_id: str,
) -> None:
    if password == "{secret}":
        password = accounts.backend_password
    assert raw().connect(client_id, username, password) == NOT_AUTHORIZED


@pytest.mark.parametrize("client_id", ["alice", "alice:phone", "alice:A-z_09", "alice:" + "x" * 32])
def test_a_user_connects_with_its_token(
    raw: Callable[[], RawClient], accounts: Accounts, client_id: str
) -> None:
    assert raw().connect(client_id, "alice", accounts.token["alice"]) == 0


@pytest.mark.parametrize(
    ("client_id", "username", "password"),
    [
        ("alice", "alice", "wrong"),
        ("alice", "alice", "{bob}"),  # another user's token
        ("alice", "alice", ""),
        ("alice", "alice", None),
        ("alice", None, None),  # anonymous
        ("nobody", "nobody", "{alice}"),
        ("bob", "alice", "{alice}"),  # someone else's client id
        ("bob:phone", "alice", "{alice}"),
        ("alice:", "alice", "{alice}"),
        ("alice:bad tag", "alice", "{alice}"),
        ("alice:" + "x" * 33, "alice", "{alice}"),
        ("alice:a:b", "alice", "{alice}"),
        ("Alice", "Alice", "{alice}"),
    ],
)
def test_a_user_is_refused_otherwise(
    raw: Callable[[], RawClient],
    accounts: Accounts,
    client_id: str,
    username: str | None,
    password: str | None,
) -> None:
    if password is not None and password.startswith("{"):
        password = accounts.token[password.strip("{}")]
    assert raw().connect(client_id, username, password) == NOT_AUTHORIZED


def test_an_empty_client_id_is_refused(raw: Callable[[], RawClient], accounts: Accounts) -> None:
    assert raw().connect("", "alice", accounts.token["alice"]) == NOT_AUTHORIZED
    assert raw().connect("", "alice", accounts.token["alice"], clean=False) == 2  # [MQTT-3.1.3-8]


def test_a_will_on_the_users_own_presence_is_accepted(
    raw: Callable[[], RawClient], accounts: Accounts
) -> None:
    assert raw().connect("alice", "alice", accounts.token["alice"], will=PRESENCE_WILL) == 0


@pytest.mark.parametrize(
    "will_topic", ["chat/u/bob/presence", "chat/u/alice/send", "presence/alice", "#", ""]
)
def test_a_will_elsewhere_is_refused(
    raw: Callable[[], RawClient], accounts: Accounts, will_topic: str
) -> None:
    will = (will_topic, b'{"state":"offline"}', 1)
    assert raw().connect("alice", "alice", accounts.token["alice"], will=will) == NOT_AUTHORIZED


def test_an_mqtt5_client_is_told_the_protocol_is_unsupported(
    raw: Callable[[], RawClient], accounts: Accounts
) -> None:
    assert raw().connect("alice", "alice", accounts.token["alice"], level=5) == 1


def test_a_user_added_while_the_broker_runs_connects_at_once(
    tmp_path: Path, accounts: Accounts
) -> None:
    data_dir = tmp_path / "data"
    first = tokens("alice")
    add_users(data_dir, first)
    broker = RunningBroker(broker_settings(data_dir))
    try:
        late = tokens("zoe")
        assert connack(broker.port, "zoe", "zoe", late["zoe"]) == NOT_AUTHORIZED
        add_users(data_dir, late)
        assert connack(broker.port, "zoe", "zoe", late["zoe"]) == 0
    finally:
        broker.stop()


def test_a_new_token_replaces_the_old_one_at_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    old = tokens("alice")
    add_users(data_dir, old)
    broker = RunningBroker(broker_settings(data_dir))
    try:
        assert connack(broker.port, "alice", "alice", old["alice"]) == 0
        new = new_token()
        asyncio.run(_set_token(data_dir, "alice", new))
        assert connack(broker.port, "alice", "alice", old["alice"]) == NOT_AUTHORIZED
        assert connack(broker.port, "alice", "alice", new) == 0
    finally:
        broker.stop()


async def _set_token(data_dir: Path, user: str, token: str) -> None:
    store = await SqliteStore.open(Settings(data_dir=data_dir).db_path)
    try:
        await store.set_token_hash(user, hash_token(token))
    finally:
        await store.close()


def test_the_broker_starts_before_the_database_exists(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    broker = RunningBroker(broker_settings(data_dir))
    try:
        late = tokens("alice")
        assert connack(broker.port, "alice", "alice", late["alice"]) == NOT_AUTHORIZED
        add_users(data_dir, late)
        assert connack(broker.port, "alice", "alice", late["alice"]) == 0
        # The backend's secret was made by the broker, where the server will find it.
        assert backend_password(data_dir)
    finally:
        broker.stop()


@pytest.mark.parametrize(
    ("topic_filter", "granted"),
    [
        ("chat/u/alice/in/#", 1),
        ("chat/u/alice/in/msg", 1),
        ("chat/u/alice/in/+", 1),
        ("presence/alice", 1),
        ("presence/bob", 1),  # they share a conversation
        ("presence/eve", 0x80),
        ("presence/+", 0x80),
        ("chat/u/bob/in/#", 0x80),
        ("chat/u/+/in/#", 0x80),
        ("chat/u/alice/send", 0x80),
        ("#", 0x80),
        ("$SYS/#", 0x80),
    ],
)
def test_subscriptions_of_a_user(
    peer: Callable[..., Peer], topic_filter: str, granted: int
) -> None:
    assert peer("alice").connected().subscribe(topic_filter) == granted


def test_a_refused_publication_is_acked_but_delivered_to_no_one(
    peer: Callable[..., Peer], backend: Peer
) -> None:
    backend.subscribe("chat/u/+/send")
    eve = peer("eve").connected()
    eve.publish("chat/u/alice/send", b"as alice")  # PUBACKed all the same
    eve.publish("chat/u/eve/send", b"as eve")
    assert backend.expect().payload == b"as eve"


def test_only_the_backend_publishes_to_inboxes(peer: Callable[..., Peer], backend: Peer) -> None:
    alice = peer("alice").connected()
    alice.subscribe("chat/u/alice/in/#")
    peer("bob").connected().publish("chat/u/alice/in/msg", b"forged")
    backend.publish("chat/u/alice/in/msg", b"real")
    assert alice.expect().payload == b"real"

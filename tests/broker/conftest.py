"""Fixtures: one data dir for the session, and a fresh broker (on a free port) per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backend.accounts import BACKEND_CLIENT_ID, BACKEND_USERNAME, backend_password
from tests.broker.raw import RawClient
from tests.broker.support import (
    Accounts,
    Peer,
    RunningBroker,
    broker_settings,
    make_data_dir,
    tokens,
)


@pytest.fixture(scope="session")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Accounts:
    data_dir = tmp_path_factory.mktemp("broker-data")
    token = tokens("alice", "bob", "eve")
    make_data_dir(data_dir, token, dms=[("alice", "bob")])
    return Accounts(data_dir, token, backend_password(data_dir))


@pytest.fixture
def broker(accounts: Accounts) -> Iterator[RunningBroker]:
    running = RunningBroker(broker_settings(accounts.data_dir))
    yield running
    running.stop()


@pytest.fixture
def peer(broker: RunningBroker, accounts: Accounts) -> Iterator[Callable[..., Peer]]:
    """`peer(user, **options)`: an unconnected paho client for `user`, with its token."""
    made: list[Peer] = []

    def make(user: str | None, password: str | None = None, **options: Any) -> Peer:
        if password is None and user is not None:
            password = accounts.token.get(user, "no-such-token")
        made.append(Peer(broker.port, user, password, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def backend(broker: RunningBroker, accounts: Accounts) -> Iterator[Peer]:
    """The backend's connection, as the server makes it."""
    client = Peer(
        broker.port, BACKEND_USERNAME, accounts.backend_password, client_id=BACKEND_CLIENT_ID
    ).connected()
    yield client
    client.close()


@pytest.fixture
def raw(broker: RunningBroker) -> Iterator[Callable[[], RawClient]]:
    """`raw()`: a bare socket connected to the broker."""
    made: list[RawClient] = []

    def make() -> RawClient:
        made.append(RawClient(broker.port))
        return made[-1]

    yield make
    for client in made:
        client.close()

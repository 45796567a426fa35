"""End-to-end fixtures: one real server per test session, fresh users per test."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.support.server import ServerProcess

_names = itertools.count(1)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("server") / "data")
    process.start()
    yield process
    code = process.stop()
    assert code == 0, f"server exited with {code}; log:\n{process.log()}"


UserFactory = Callable[..., dict[str, str]]


@pytest.fixture
def make_users(server: ServerProcess) -> UserFactory:
    """`make_users("alice", "bob")` creates fresh users (unique names) and returns id -> token.

    The returned dict preserves the order given; names get a numeric suffix so that tests
    sharing the session's server never meet each other's users.
    """

    def create(*names: str) -> dict[str, str]:
        suffix = next(_names)
        ids = [f"{name}{suffix}" for name in names]
        return server.add_users(ids)

    return create

"""Fixtures for the client tests: one real server for them all, fresh users per test."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.support.server import ServerProcess

_names = itertools.count(1)

UserFactory = Callable[..., dict[str, str]]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("clients-server") / "data")
    process.start()
    yield process
    code = process.stop()
    assert code == 0, f"server exited with {code}; log:\n{process.log()}"


@pytest.fixture
def make_users(server: ServerProcess) -> UserFactory:
    """`make_users("alice", "bob")`: fresh users (unique names) on the module's server."""

    def create(*names: str) -> dict[str, str]:
        suffix = next(_names)
        return server.add_users([f"{name}{suffix}" for name in names])

    return create

"""Fixtures for the client tests: one real server per module, fresh users per test."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.support.server import ServerProcess

_names = itertools.count(1)

UserFactory = Callable[..., dict[str, str]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("clients-server") / "data")
    process.start()
    yield process
    code = process.stop()
    close_pipes(process)
    assert code == 0, f"server exited with {code}; log:\n{process.log()}"


def close_pipes(process: ServerProcess) -> None:
    """`ServerProcess` leaves the child's stdout pipe open (a ResourceWarning, an error here)."""
    if process.process is not None and process.process.stdout is not None:
        process.process.stdout.close()


@pytest.fixture
def make_users(server: ServerProcess) -> UserFactory:
    """`make_users("alice", "bob")`: fresh users (unique names) on the module's server."""

    def create(*names: str) -> dict[str, str]:
        suffix = next(_names)
        return server.add_users([f"{name}{suffix}" for name in names])

    return create

"""End-to-end fixtures: one real server per test session, fresh users per test."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.support.server import BROKERS, ServerProcess

_names = itertools.count(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`@pytest.mark.embedded_only("why")`: a behaviour only the embedded broker can give
    (it reports connections); the test's other variants are skipped with the reason."""
    for item in items:
        marker = item.get_closest_marker("embedded_only")
        callspec = getattr(item, "callspec", None)
        broker = callspec.params.get("broker", "embedded") if callspec else "embedded"
        if marker is not None and broker != "embedded":
            item.add_marker(pytest.mark.skip(reason=str(marker.args[0])))


@pytest.fixture(scope="session", params=BROKERS)
def broker(request: pytest.FixtureRequest) -> str:
    """Which broker the server runs: every end-to-end test runs against each."""
    return str(request.param)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, broker: str) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp(f"server-{broker}") / "data", broker=broker)
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

"""kill -9 in the middle of a load of 20 users: of everything, of the broker, of the backend.

After each, the clients (the SDK: retry with the same id until acked) and the server
recover on their own: every acked message is stored exactly once, in seq order, and
reaches its recipients live or by sync (`tests.support.chat_load`). Each test kills
three times, at three moments of one load (early, midway, near the end), recovering
from each before the next: three separate runs would cost three times the setup for
the same three kill moments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.support.chat_load import PER_USER, USERS, load_through_faults
from tests.support.processes import broker_child, kill, wait_exited
from tests.support.server import ServerProcess

TOTAL = USERS * PER_USER
KILL_POINTS = (10, TOTAL * 2 // 5, TOTAL * 4 // 5)
# The broker child notices its parent's death at once (stdin EOF, or the parent-death
# signal for Mosquitto); the embedded one then closes its connections: seconds at most.
BROKER_ORPHAN_EXIT_S = 10.0

Fault = Callable[[ServerProcess], Awaitable[None]]
ORPHAN_EXITS_S: list[float] = []  # how long each orphaned broker took to exit (reported)


async def kill_everything(server: ServerProcess) -> None:
    """SIGKILL the server's process group (backend and broker), then start it again."""
    server.kill()
    await asyncio.to_thread(server.start)  # same ports, same data


async def kill_broker(server: ServerProcess) -> None:
    """SIGKILL the broker child alone: the server must restart it by itself."""
    assert server.process is not None
    kill(broker_child(server.process.pid))


async def kill_backend(server: ServerProcess) -> None:
    """SIGKILL the backend alone: its broker child must exit by itself; then restart."""
    assert server.process is not None
    broker = broker_child(server.process.pid)
    kill(server.process.pid)
    await asyncio.to_thread(server.process.wait)
    ORPHAN_EXITS_S.append(await wait_exited(broker, BROKER_ORPHAN_EXIT_S))
    server.kill()  # only closes the pipe now: nothing is left to kill
    await asyncio.to_thread(server.start)


FAULTS: dict[str, Fault] = {
    "everything": kill_everything,
    "broker": kill_broker,
    "backend": kill_backend,
}
# The broker kill with each broker the server can run as its child; the backend kill with
# the embedded one (Mosquitto's exit with a server killed alone, by the parent-death
# signal, is tests/e2e/test_mosquitto.py's).
CASES = [
    ("everything", "embedded"),
    ("broker", "embedded"),
    ("broker", "mosquitto"),
    ("backend", "embedded"),
]


@pytest.fixture
def own_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", broker=request.param)
    process.start()
    yield process
    if process.process is not None and process.process.poll() is None:
        code = process.stop()
        assert code == 0, f"server exited with {code}; log:\n{process.log()}"
    process.kill()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "own_server"), CASES, indirect=["own_server"], ids=[f"{t}-{b}" for t, b in CASES]
)
async def test_kill_9_mid_load_loses_nothing_acked(own_server: ServerProcess, target: str) -> None:
    assert own_server.process is not None
    first_pid = own_server.process.pid
    brokers = [broker_child(first_pid)]

    async def fault() -> None:
        await FAULTS[target](own_server)
        assert own_server.process is not None
        if target == "broker":
            # The same server; the new broker child shows once it is running.
            assert own_server.process.pid == first_pid

    recovery = await load_through_faults(own_server, KILL_POINTS, fault)

    print(
        f"\nkill {target} ({own_server.broker}) at {recovery.acked_at_faults} acks: acks "
        f"flowed again after {[round(s, 2) for s in recovery.resumed_s]} s; after the last "
        f"kill all acked in {recovery.all_acked_s:.2f}s, all shown in {recovery.converged_s:.2f}s"
        + (
            f"; orphaned broker exited in {[round(s, 2) for s in ORPHAN_EXITS_S]} s"
            if target == "backend"
            else ""
        )
    )
    assert all(a >= p for a, p in zip(recovery.acked_at_faults, KILL_POINTS, strict=True))
    assert own_server.process is not None
    if target == "broker":
        brokers.append(broker_child(first_pid))
        assert brokers[1] != brokers[0]
        assert own_server.log().count("restarted") >= len(KILL_POINTS), own_server.log()

"""The server's supervision of its broker child (backend.broker_process)."""

from __future__ import annotations

import asyncio

import pytest

from backend.broker_process import BrokerFailed, BrokerProcess
from backend.core.restarts import RestartPolicy
from backend.settings import Settings
from tests.broker.raw import HOST, connack
from tests.broker.support import Accounts

WAIT_S = 30  # a cold interpreter importing amqtt and pydantic, per start


async def restarted(broker: BrokerProcess, restarts: int) -> None:
    """Until the supervisor has started `restarts` new children (no event tells it)."""
    async with asyncio.timeout(WAIT_S):
        while broker.restarts < restarts:
            await asyncio.sleep(0.05)


async def test_a_dead_broker_comes_back_on_its_port_until_it_dies_too_often(
    accounts: Accounts,
) -> None:
    settings = Settings(data_dir=accounts.data_dir, host=HOST, mqtt_port=0)
    policy = RestartPolicy(delays_s=(0.0,), max_restarts=1, window_s=60.0)
    async with BrokerProcess.started(settings) as broker:
        supervisor = asyncio.create_task(broker.supervise(asyncio.Event(), policy))
        port, first = broker.port, broker.process
        assert first is not None
        first.kill()
        await restarted(broker, 1)
        assert broker.process is not first and broker.port == port
        code = await asyncio.to_thread(connack, port, "alice", "alice", accounts.token["alice"])
        assert code == 0
        assert broker.process is not None
        broker.process.kill()  # a second death within the window: past the bound
        with pytest.raises(BrokerFailed, match="giving up"):
            await asyncio.wait_for(supervisor, WAIT_S)


async def test_a_broker_stopped_along_with_the_server_is_not_restarted(accounts: Accounts) -> None:
    settings = Settings(data_dir=accounts.data_dir, host=HOST, mqtt_port=0)
    async with BrokerProcess.started(settings) as broker:
        stopping = asyncio.Event()
        supervisor = asyncio.create_task(broker.supervise(stopping))
        assert broker.process is not None
        # Ctrl-C reaches the whole process group: the child exits cleanly, and the
        # server's own stop follows.
        broker.process.terminate()
        stopping.set()
        await asyncio.wait_for(supervisor, WAIT_S)
        assert broker.restarts == 0

"""Running the `mqchat` client commands against a test server, as a user would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tests.clients.support import WAIT_S
from tests.support.server import HOST, ServerProcess

CLI_TIMEOUT_S = 60


def cli_env(server: ServerProcess, user: str, token: str) -> dict[str, str]:
    """The environment that points every client command at `server`, as `user`."""
    return {
        **os.environ,
        "MQCHAT_HOST": HOST,
        "MQCHAT_MQTT_PORT": str(server.mqtt_port),
        "MQCHAT_HTTP_URL": server.http_url,
        "MQCHAT_USER": user,
        "MQCHAT_TOKEN": token,
    }


def mqchat(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one command to completion (blocking: for tests with no client of their own)."""
    return subprocess.run(
        [sys.executable, "-m", "backend", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env=env,
        check=False,
    )


@dataclass
class Finished:
    """A command that ran to completion."""

    code: int
    stdout: str
    stderr: str

    def lines(self) -> list[str]:
        """stdout, one entry a line; fails the test (with stderr) unless it exited 0."""
        assert self.code == 0, self.stderr
        return self.stdout.splitlines()


async def run_cli(*args: str, env: dict[str, str]) -> Finished:
    """Run one command to completion without blocking the test's own clients."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backend", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(CLI_TIMEOUT_S):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


def assert_one_error_line(
    result: Finished | subprocess.CompletedProcess[str], *fragments: str
) -> None:
    """The command failed with exactly one `error: ...` line naming every fragment."""
    code = result.code if isinstance(result, Finished) else result.returncode
    assert code != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


class Running:
    """A command that runs until stopped (`listen`, `presence`): its output, line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self, timeout: float = WAIT_S) -> str:
        """The next line of stdout, without its newline."""
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            line = await self.process.stdout.readline()
        assert line, f"the command ended early; stderr: {await self._stderr()}"
        return line.decode().rstrip("\n")

    async def lines(self, count: int, timeout: float = WAIT_S) -> list[str]:
        """The next `count` lines of stdout."""
        return [await self.line(timeout) for _ in range(count)]

    async def stderr_line(self, containing: str, timeout: float = WAIT_S) -> str:
        """Read stderr up to the first line containing `containing` (e.g. `listening as`)."""
        assert self.process.stderr is not None
        async with asyncio.timeout(timeout):
            while line := (await self.process.stderr.readline()).decode():
                if containing in line:
                    return line
        raise AssertionError(f"stderr ended without {containing!r}")

    async def stop(self) -> Finished:
        """Ctrl-C, then the exit code and whatever else it printed."""
        self.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(WAIT_S):
            stdout, stderr = await self.process.communicate()
        assert self.process.returncode is not None
        return Finished(self.process.returncode, stdout.decode(), stderr.decode())

    async def _stderr(self) -> str:
        assert self.process.stderr is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1):
                return (await self.process.stderr.read()).decode()
        return ""


@contextlib.asynccontextmanager
async def running(*args: str, env: dict[str, str]) -> AsyncIterator[Running]:
    """Start a command that runs until stopped; it is killed if the test ends first."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backend", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield Running(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def listening(server: ServerProcess, user: str, token: str) -> AsyncIterator[Running]:
    """`mqchat listen` as `user`, once it has synced (so that it hears what comes next)."""
    async with running("listen", env=cli_env(server, user, token)) as listener:
        await listener.stderr_line("listening as")
        yield listener

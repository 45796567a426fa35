"""`mqchat send`, `listen` and `history` as a user runs them, against a real server."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from backend.ids import dm_conv
from tests.clients.cli_support import CLI_TIMEOUT_S, assert_one_error_line, cli_env, mqchat
from tests.clients.conftest import UserFactory
from tests.clients.support import WAIT_S, client
from tests.support.server import HOST, ServerProcess


def test_send_prints_the_conversation_and_seq(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    conv = dm_conv(alice_id, bob_id)
    first = mqchat("send", "--to", bob_id, "hello", env=cli_env(server, alice_id, tokens[alice_id]))
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"conv={conv} seq=1\n"
    # The same with flags instead of the environment, into the conversation by id.
    second = mqchat(
        "send", "--conv", conv, "again",
        "--host", HOST, "--mqtt-port", str(server.mqtt_port),
        "--user", alice_id, "--token", tokens[alice_id],
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"conv={conv} seq=2\n"


def test_send_with_the_same_id_never_duplicates(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    env = cli_env(server, alice_id, tokens[alice_id])
    runs = [mqchat("send", "--to", bob_id, "--id", "script-1", "once", env=env) for _ in range(2)]
    assert [run.stdout for run in runs] == [f"conv={dm_conv(alice_id, bob_id)} seq=1\n"] * 2


def test_errors_are_one_line_and_a_nonzero_exit(
    server: ServerProcess, make_users: UserFactory
) -> None:
    tokens = make_users("alice")
    [alice_id] = tokens
    env = cli_env(server, alice_id, tokens[alice_id])
    assert_one_error_line(mqchat("send", "--to", "nobody-here", "hi", env=env), "unknown_user")
    assert_one_error_line(mqchat("send", "hi", env=env), "--to", "--conv")
    wrong = {**env, "MQCHAT_TOKEN": "wrong"}
    assert_one_error_line(mqchat("send", "--to", "nobody-here", "hi", env=wrong), "refused")
    assert_one_error_line(mqchat("listen", env=wrong), "refused")
    no_token = {key: value for key, value in env.items() if key != "MQCHAT_TOKEN"}
    assert_one_error_line(mqchat("send", "--to", "x", "hi", env=no_token), "token")
    assert_one_error_line(mqchat("history", "dm:a:b", env=wrong), "401")


def test_history_prints_oldest_first(server: ServerProcess, make_users: UserFactory) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    env = cli_env(server, alice_id, tokens[alice_id])
    for text in ("a", "b", "c"):
        assert mqchat("send", "--to", bob_id, text, env=env).returncode == 0
    conv = dm_conv(alice_id, bob_id)
    latest = mqchat("history", conv, "--limit", "2", env=env)
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout.splitlines() == [
        f"[{conv} #2] {alice_id}: b",
        f"[{conv} #3] {alice_id}: c",
    ]
    # The same connection flags as for send and listen are accepted (and unused).
    older = mqchat(
        "history", conv, "--before", "2",
        "--host", HOST, "--mqtt-port", str(server.mqtt_port), "--user", bob_id,
        env=cli_env(server, bob_id, tokens[bob_id]),
    )  # fmt: skip
    assert older.returncode == 0, older.stderr
    assert older.stdout.splitlines() == [f"[{conv} #1] {alice_id}: a"]


async def test_listen_prints_synced_then_live_messages(
    server: ServerProcess, make_users: UserFactory, tmp_path: Path
) -> None:
    tokens = make_users("alice", "bob")
    alice_id, bob_id = tokens
    conv = dm_conv(alice_id, bob_id)
    stderr_path = tmp_path / "listen.err"
    async with client(server, alice_id, tokens[alice_id]) as alice:
        async with asyncio.timeout(WAIT_S):
            await alice.send("sent before listening", to=bob_id)
        with stderr_path.open("w") as stderr:
            listener = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "backend", "listen",
                env=cli_env(server, bob_id, tokens[bob_id]),
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )  # fmt: skip
        assert listener.stdout is not None
        try:
            async with asyncio.timeout(CLI_TIMEOUT_S):
                first = await listener.stdout.readline()
                assert first.decode() == f"[{conv} #1] {alice_id}: sent before listening\n"
                await alice.send("sent while listening", to=bob_id)
                second = await listener.stdout.readline()
                assert second.decode() == f"[{conv} #2] {alice_id}: sent while listening\n"
            listener.send_signal(signal.SIGTERM)
            async with asyncio.timeout(WAIT_S):
                rest = await listener.stdout.read()
                code = await listener.wait()
        finally:
            if listener.returncode is None:
                listener.kill()
                await listener.wait()
    assert rest == b""
    assert code == 0, stderr_path.read_text()
    assert f"listening as {bob_id}:cli-listen" in stderr_path.read_text()

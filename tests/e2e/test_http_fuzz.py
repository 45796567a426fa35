"""A schema-driven fuzz of the real server's HTTP API (schemathesis over its OpenAPI spec).

Schemathesis runs as its own CLI process (importing it patches Hypothesis for the whole
pytest process), with `tests/support/schemathesis_hooks.py` for the contract's checks:
no 5xx, and every 4xx shaped `{"error": {"code", "message"}}` with a code of its status.
Path parameters and member lists are drawn, part of the time, from real users, a real
group, a real 1:1 conversation and a real upload, so that the fuzz gets past the 404s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import UserFactory
from tests.support import media_files
from tests.support.media_http import client, uploaded
from tests.support.mqtt import connect
from tests.support.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
RUN_TIMEOUT_S = 90
# Each request takes the next user's token: the per-user HTTP rate limit (50/s) then
# leaves the fuzz room, and the users play admin, member and outsider of the group.
FUZZ_USERS = 6
CHECKS = ",".join(
    [
        "not_a_server_error",
        "contract_error_shape",  # tests/support/schemathesis_hooks.py
        "status_code_conformance",  # every status the server sends is in the spec
        "response_schema_conformance",  # error bodies included
        "content_type_conformance",
        "allow_header_conformance",  # a 405 names every method of the path
    ]
)
# Small, to stay within the suite's time budget; `MQCHAT_FUZZ_EXAMPLES=300` for a deep run.
MAX_EXAMPLES = os.environ.get("MQCHAT_FUZZ_EXAMPLES", "12")


def schemathesis(
    server: ServerProcess,
    workdir: Path,
    *options: str,
    tokens: list[str],
    config: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
        "MQCHAT_FUZZ_TOKENS": ",".join(tokens),
    }
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "--no-color",
            *([f"--config-file={config}"] if config else []),
            "run",
            f"{server.http_url}/openapi.json",
            "--checks",
            CHECKS,
            "--workers",
            "1",
            "--request-timeout",
            "10",
            *options,
        ],
        cwd=workdir,  # its cache directory goes there, not into the repository
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def config_file(path: Path, users: list[str], convs: list[str], media: list[str]) -> Path:
    """A schemathesis.toml binding path parameters and member lists to real values, mostly."""
    dictionaries = {"users": users, "convs": convs, "media": media}
    bindings = {
        "path.user": ("users", 0.7),
        "path.user_id": ("users", 0.7),
        "path.conv": ("convs", 0.7),
        "path.media_id": ("media", 0.7),
        "body.members[*]": ("users", 0.8),
        "body.users[*]": ("users", 0.8),
    }
    lines = []
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for key, (dictionary, probability) in bindings.items():
        lines.append(f'"{key}" = {{ dictionary = "{dictionary}", probability = {probability} }}')
    path.write_text("\n".join(lines) + "\n")
    return path


def new_log(server: ServerProcess, since: int) -> str:
    return server.log()[since:]


def outcome(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"


def only_once(server: ServerProcess) -> None:
    """The HTTP API is the backend's, whatever the broker: fuzz it once, not per broker."""
    if getattr(server, "broker", "embedded") != "embedded":
        pytest.skip("HTTP does not depend on the broker; fuzzed with the embedded one")


async def test_fuzzing_the_api_as_real_users_finds_no_server_error_and_only_contract_errors(
    server: ServerProcess, make_users: UserFactory, tmp_path: Path
) -> None:
    only_once(server)
    tokens = make_users(*(f"fuzz{index}" for index in range(FUZZ_USERS)))
    users = list(tokens)
    admin, member = users[0], users[1]
    async with client(server, tokens[admin]) as http:
        group = await http.post("/v1/groups", json={"name": "fuzz", "members": users[1:4]})
        assert group.status_code == 201, group.text
        # A picture of its own: identical bytes are stored once, and other tests count files.
        media = await uploaded(http, media_files.photo(37, 29), "image/jpeg")
    async with connect(server.mqtt_port, admin, tokens[admin]) as peer:
        ack = await peer.send({"id": "f1", "to": member, "text": "hello"})
        assert "error" not in ack, ack
    convs = [group.json()["conv"], ack["conv"]]
    config = config_file(tmp_path / "schemathesis.toml", users, convs, [str(media["id"])])
    log_start = len(server.log())

    result = schemathesis(
        server,
        tmp_path,
        "--max-examples",
        MAX_EXAMPLES,
        tokens=list(tokens.values()),
        config=config,
    )

    assert result.returncode == 0, outcome(result)
    assert "Traceback" not in new_log(server, log_start)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_fuzzing_the_api_without_a_token_gets_401s_in_the_contracts_shape(
    server: ServerProcess, tmp_path: Path
) -> None:
    only_once(server)
    log_start = len(server.log())
    result = schemathesis(
        server, tmp_path, "--max-examples", "3", "--phases", "coverage,fuzzing", tokens=[]
    )
    assert result.returncode == 0, outcome(result)
    assert "Traceback" not in new_log(server, log_start)


async def test_the_spec_is_served_and_every_operation_id_is_unique(server: ServerProcess) -> None:
    """OpenAPI requires unique operation ids; tools that generate clients key on them."""
    only_once(server)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        spec = (await http.get("/openapi.json")).json()
    ids = [
        operation["operationId"]
        for methods in spec["paths"].values()
        for operation in methods.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert ids and len(ids) == len(set(ids)), sorted(ids)

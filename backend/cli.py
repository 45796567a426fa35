"""The `mqchat` command: `serve` and `user ...` for operators; client commands from clients/."""

from __future__ import annotations

import asyncio
import csv
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from backend.accounts import hash_token, new_token
from backend.errors import ChatError
from backend.ids import is_phone, is_user_id
from backend.server import Endpoints, run_server
from backend.settings import load_settings
from backend.store.base import NewUser
from backend.store.sqlite import SqliteStore
from clients.bench.cli import bench
from clients.cli import register_client_commands

app = typer.Typer(help="mqchat: a messaging server whose clients speak MQTT.", no_args_is_help=True)
users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
app.add_typer(users_app, name="user")

T = TypeVar("T")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory [env MQCHAT_DATA_DIR; default ./mqchat-data]"),
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="A TOML file of settings.", exists=True)
]


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Address to bind [env MQCHAT_HOST]")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="MQTT port [env MQCHAT_MQTT_PORT]")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP port [env MQCHAT_HTTP_PORT]")] = None,
    broker: Annotated[
        str | None,
        typer.Option(
            help="'embedded' (default), 'mosquitto', or mqtt://host:port of a running broker"
        ),
    ] = None,
    config: ConfigFile = None,
) -> None:
    """Start the broker, the backend and the HTTP API; stop on Ctrl-C or SIGTERM."""
    settings = load_settings(
        config,
        data_dir=data_dir,
        host=host,
        mqtt_port=mqtt_port,
        http_port=http_port,
        broker=broker,
    )
    _configure_logging()

    def announce(endpoints: Endpoints) -> None:
        print(endpoints.ready_line(), flush=True)

    _run(run_server(settings, announce))


@users_app.command("add")
def user_add(
    user_id: Annotated[str, typer.Argument(metavar="ID")],
    phone: Annotated[str, typer.Option(help="E.164 phone number, e.g. +4915112345678")],
    name: Annotated[str, typer.Option(help="Display name")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a user and print its access token (the only line on stdout)."""
    problem = _user_problem(user_id, phone, name)
    if problem:
        _fail(problem)
    token = new_token()
    _with_store(
        data_dir,
        lambda store: store.add_users([NewUser(user_id, phone, name, hash_token(token))], _now()),
    )
    print(token)


@users_app.command("token")
def user_token(
    user_id: Annotated[str, typer.Argument(metavar="ID")], data_dir: DataDir = None
) -> None:
    """Issue a new token for a user, revoking the old one; print it."""
    token = new_token()
    _with_store(data_dir, lambda store: store.set_token_hash(user_id, hash_token(token)))
    print(token)


@users_app.command("import")
def user_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    data_dir: DataDir = None,
) -> None:
    """Create many users from a CSV (id,phone,name; header optional); print id,token lines.

    A bad row is reported with its line number and nothing is created.
    """
    rows = _read_user_rows(file)
    tokens = {user_id: new_token() for user_id, _, _ in rows}
    new_users = [NewUser(u, phone, name, hash_token(tokens[u])) for u, phone, name in rows]
    _with_store(data_dir, lambda store: store.add_users(new_users, _now()))
    writer = csv.writer(sys.stdout, lineterminator="\n")
    for user_id, token in tokens.items():
        writer.writerow([user_id, token])


def _read_user_rows(file: Path) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    seen_ids: set[str] = set()
    seen_phones: set[str] = set()
    with file.open(newline="", encoding="utf-8") as handle:
        for line_number, row in enumerate(csv.reader(handle), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if line_number == 1 and [c.lower() for c in cells[:2]] == ["id", "phone"]:
                continue  # the header
            if len(cells) not in (2, 3):
                _fail(f"line {line_number}: expected id,phone,name, got {len(cells)} columns")
            user_id, phone, name = cells[0], cells[1], cells[2] if len(cells) == 3 else ""
            problem = _user_problem(user_id, phone, name)
            if not problem and user_id in seen_ids:
                problem = f"user {user_id!r} appears twice"
            if not problem and phone in seen_phones:
                problem = f"phone {phone} appears twice"
            if problem:
                _fail(f"line {line_number}: {problem}")
            seen_ids.add(user_id)
            seen_phones.add(phone)
            rows.append((user_id, phone, name))
    return rows


def _user_problem(user_id: str, phone: str, name: str) -> str | None:
    if not is_user_id(user_id):
        return (
            f"{user_id!r} is not a valid user id (1-32 of a-z 0-9 _ . -, starting with a-z or 0-9)"
        )
    if not is_phone(phone):
        return f"{phone!r} is not an E.164 phone number (+ and 8-15 digits)"
    if len(name) > 64:
        return "the name is longer than 64 characters"
    return None


def _with_store(data_dir: Path | None, action: Any) -> None:
    settings = load_settings(data_dir=data_dir)

    async def run() -> None:
        store = await SqliteStore.open(settings.db_path, settings.durability)
        try:
            await action(store)
        finally:
            await store.close()

    try:
        _run(run())
    except ChatError as error:
        _fail(error.message)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop

        return uvloop.run(coroutine)
    except ImportError:
        return asyncio.run(coroutine)


def _now() -> int:
    from backend.service import wall_clock_ms

    return wall_clock_ms()


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


register_client_commands(app)
app.command("bench")(bench)

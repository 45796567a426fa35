"""The SQLite store: one file in WAL mode, a writer thread and a reader thread.

Writes go through one writer task that commits in groups: every job that arrived while
the previous transaction was being written joins the next one, so a burst of sends
costs one fsync, not one each. A job's result is released only after its transaction
has committed, which is what lets the caller acknowledge it as durable.

Each connection lives on a thread of its own and runs whole operations
(the `sqlite_*` modules), not single statements: a send is about eight statements, and a
statement-per-hop driver such as aiosqlite would pay eight thread hops for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from backend.errors import ChatError
from backend.store import sqlite_accounts as accounts
from backend.store import sqlite_groups as groups
from backend.store import sqlite_media as media
from backend.store import sqlite_messages as messages
from backend.store import sqlite_reads as reads
from backend.store.base import (
    ConversationState,
    GroupChange,
    MemberReceipt,
    NewUser,
    PresenceState,
    ReceiptCommand,
    ReceiptResult,
    SendCommand,
    SendResult,
    Store,
    SyncBatch,
    User,
)
from backend.store.sqlite_errors import FailureLog, unavailable_or_same
from backend.wire import MediaInfo, Message

log = logging.getLogger(__name__)

Durability = Literal["full", "normal"]
SCHEMA_VERSION = 1
MAX_BATCH = 512

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], T]


@dataclass(slots=True)
class _Pending:
    operation: Operation[Any]
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None


class SqliteStore(Store):
    """`Store` on one SQLite file."""

    def __init__(self, path: Path, durability: Durability = "full") -> None:
        self._path = path
        self._durability = durability
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self._reader_thread = ThreadPoolExecutor(1, thread_name_prefix="store-reader")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._jobs: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None
        self.batches_committed = 0
        self._failures = FailureLog()

    @classmethod
    async def open(cls, path: Path, durability: Durability = "full") -> SqliteStore:
        """Open the database at `path`, creating the file and its schema if needed."""
        store = cls(path, durability)
        loop = asyncio.get_running_loop()
        path.parent.mkdir(parents=True, exist_ok=True)
        store._writer = await loop.run_in_executor(store._writer_thread, store._connect, True)
        store._reader = await loop.run_in_executor(store._reader_thread, store._connect, False)
        store._writer_task = asyncio.create_task(store._write_loop(), name="store-writer")
        return store

    def _connect(self, migrate: bool) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None, timeout=10, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {self._durability.upper()}")
        db.execute("PRAGMA foreign_keys = ON")
        if migrate:
            _migrate(db)
        else:
            db.execute("PRAGMA query_only = ON")
        return db

    async def close(self) -> None:
        if self._writer_task is not None:
            self._writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer_task
        loop = asyncio.get_running_loop()
        for db, thread in (
            (self._writer, self._writer_thread),
            (self._reader, self._reader_thread),
        ):
            if db is not None:
                await loop.run_in_executor(thread, db.close)
            thread.shutdown(wait=True)

    # Running operations

    async def _read(self, operation: Operation[T]) -> T:
        assert self._reader is not None, "the store is not open"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_thread, operation, self._reader)

    async def _write(self, operation: Operation[T]) -> T:
        if self._writer_task is None or self._writer_task.done():
            raise RuntimeError("the store is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put_nowait(_Pending(operation, future))
        return await future

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._jobs.get()]
            while len(batch) < MAX_BATCH and not self._jobs.empty():
                batch.append(self._jobs.get_nowait())
            try:
                await loop.run_in_executor(self._writer_thread, self._commit, batch)
            except Exception as exc:
                # Anything unexpected (a full disk, a broken file) fails the whole batch:
                # none of it was acknowledged, so the clients' retries make it whole.
                error = unavailable_or_same(exc)
                self._failures.failed(len(batch), exc, error)
                for pending in batch:
                    # A barrier wrote nothing: what it waited for is over, failed or not.
                    if pending.operation is not _nothing:
                        pending.result, pending.error = None, error
            else:
                self.batches_committed += 1
                if any(pending.operation is not _nothing for pending in batch):
                    self._failures.committed()  # (barriers alone commit on a full disk)
            for pending in batch:
                if pending.future.done():  # the caller stopped waiting
                    continue
                if pending.error is None:
                    pending.future.set_result(pending.result)
                else:
                    pending.future.set_exception(pending.error)

    def _commit(self, batch: list[_Pending]) -> None:
        """One transaction for the batch; each job in a savepoint of its own."""
        db = self._writer
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            for pending in batch:
                db.execute("SAVEPOINT job")
                try:
                    pending.result = pending.operation(db)
                except ChatError as error:
                    db.execute("ROLLBACK TO job")
                    pending.error = error
                db.execute("RELEASE job")
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    # Accounts

    async def add_users(self, users: Sequence[NewUser], now: int) -> None:
        await self._write(partial(accounts.add_users, users=users, now=now))

    async def set_token_hash(self, user: str, token_hash: bytes) -> None:
        await self._write(partial(accounts.set_token_hash, user=user, token_hash=token_hash))

    async def user_by_token_hash(self, token_hash: bytes) -> User | None:
        return await self._read(partial(accounts.user_by_token_hash, token_hash=token_hash))

    async def get_user(self, user: str) -> User | None:
        return await self._read(partial(accounts.get_user, user=user))

    async def update_profile(self, user: str, name: str | None, about: str | None) -> User:
        return await self._write(
            partial(accounts.update_profile, user=user, name=name, about=about)
        )

    async def set_presence(self, user: str, online: bool, ts: int) -> None:
        await self._write(partial(accounts.set_presence, user=user, online=online, ts=ts))

    async def touch_last_seen(self, users: Sequence[str], ts: int) -> None:
        await self._write(partial(accounts.touch_last_seen, users=users, ts=ts))

    async def presence_states(self) -> list[PresenceState]:
        return await self._read(accounts.presence_states)

    # Messages

    async def send(self, command: SendCommand) -> SendResult:
        return await self._write(partial(messages.send, command=command))

    async def apply_receipt(self, command: ReceiptCommand) -> ReceiptResult:
        return await self._write(partial(messages.apply_receipt, command=command))

    async def sync(self, user: str, since: dict[str, int], limit: int) -> SyncBatch:
        # A barrier: wait until every write submitted before this sync has committed, so a
        # client's `delivered` receipt followed by a sync is seen by that sync.
        await self._write(_nothing)
        return await self._read(partial(reads.sync, user=user, since=since, limit=limit))

    async def history(self, user: str, conv: str, before: int | None, limit: int) -> list[Message]:
        return await self._read(
            partial(reads.history, user=user, conv=conv, before=before, limit=limit)
        )

    async def conversations(self, user: str) -> list[ConversationState]:
        return await self._read(partial(reads.conversations, user=user))

    async def current_members(self, conv: str) -> list[str]:
        return await self._read(partial(reads.current_members, conv=conv))

    async def message_receipts(self, user: str, conv: str, seq: int) -> list[MemberReceipt]:
        return await self._read(partial(reads.message_receipts, user=user, conv=conv, seq=seq))

    # Groups

    async def create_group(
        self, creator: str, conv: str, name: str, members: Sequence[str], max_members: int, now: int
    ) -> GroupChange:
        return await self._write(
            partial(
                groups.create_group,
                creator=creator,
                conv=conv,
                name=name,
                members=members,
                max_members=max_members,
                now=now,
            )
        )

    async def rename_group(self, actor: str, conv: str, name: str, now: int) -> GroupChange:
        return await self._write(
            partial(groups.rename_group, actor=actor, conv=conv, name=name, now=now)
        )

    async def add_members(
        self, actor: str, conv: str, users: Sequence[str], max_members: int, now: int
    ) -> GroupChange:
        return await self._write(
            partial(
                groups.add_members,
                actor=actor,
                conv=conv,
                users=users,
                max_members=max_members,
                now=now,
            )
        )

    async def remove_member(self, actor: str, conv: str, user: str, now: int) -> GroupChange:
        return await self._write(
            partial(groups.remove_member, actor=actor, conv=conv, user=user, now=now)
        )

    async def set_admin(
        self, actor: str, conv: str, user: str, make_admin: bool, now: int
    ) -> GroupChange:
        return await self._write(
            partial(
                groups.set_admin, actor=actor, conv=conv, user=user, make_admin=make_admin, now=now
            )
        )

    # Media

    async def add_media(self, owner: str, kind: str, info: MediaInfo, now: int) -> None:
        await self._write(partial(media.add_media, owner=owner, kind=kind, info=info, now=now))

    async def get_media(self, media_id: str) -> tuple[str, str, MediaInfo] | None:
        return await self._read(partial(media.get_media, media_id=media_id))

    async def may_read_media(self, user: str, media_id: str) -> bool:
        return await self._read(partial(media.may_read_media, user=user, media_id=media_id))

    async def unused_media(self, older_than: int, limit: int) -> list[str]:
        return await self._read(partial(media.unused_media, older_than=older_than, limit=limit))

    async def delete_unused_media(self, media_ids: Sequence[str]) -> list[str]:
        return await self._write(partial(media.delete_unused_media, media_ids=media_ids))


def _nothing(db: sqlite3.Connection) -> None:
    """A write job that writes nothing: its completion marks a point in the write order."""


def _migrate(db: sqlite3.Connection) -> None:
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema {version} is newer than this mqchat's ({SCHEMA_VERSION})"
        )
    schema = resources.files("backend.store").joinpath("schema.sql").read_text()
    db.executescript(schema)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

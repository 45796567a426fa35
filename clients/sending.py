"""Sends in flight: the outbox, its file, and the callers awaiting each ack."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from backend import wire
from clients.errors import ChatClientError, SendError
from clients.outbox import Outbox, OutboxFile

log = logging.getLogger(__name__)

RATE_LIMITED = "rate_limited"
# The server could not store it now (a full disk): not a verdict on the message either.
UNAVAILABLE = "unavailable"


class Sends:
    """Requests waiting for their ack, and who waits for them."""

    def __init__(self, outbox_path: Path | None) -> None:
        self.outbox = Outbox()
        self._file = OutboxFile(outbox_path) if outbox_path is not None else None
        self._waiters: dict[str, list[asyncio.Future[wire.Ack]]] = {}

    def load(self) -> None:
        """Take up the requests a previous run of the client left unacknowledged."""
        if self._file is not None:
            self.outbox = Outbox(self._file.load())

    def add(self, request: dict[str, Any]) -> tuple[bool, asyncio.Future[wire.Ack]]:
        """Put `request` in the outbox (unless its id is already there) and return a waiter.

        Returns whether it is new, so the caller knows to publish it.
        """
        waiter: asyncio.Future[wire.Ack] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(request["id"], []).append(waiter)
        new = self.outbox.add(request)
        if new:
            self._save()
        return new, waiter

    def forget_waiter(self, request_id: str, waiter: asyncio.Future[wire.Ack]) -> None:
        """The caller stopped waiting (cancelled); the request itself stays in the outbox."""
        waiters = self._waiters.get(request_id, [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            self._waiters.pop(request_id, None)

    def settle(self, answer: wire.Ack | wire.AckError) -> None:
        """An ack or error ack arrived: the request leaves the outbox, its callers wake."""
        if answer.id is None:
            log.warning("an error ack names no request: %s", answer.error)
            return
        if isinstance(answer, wire.AckError) and answer.error.code in (RATE_LIMITED, UNAVAILABLE):
            # Not a verdict on the message: it stays in the outbox and is published again
            # after the retry interval, like a request that got no answer.
            log.info("send %s %s; it will be retried", answer.id, answer.error.code)
            return
        if self.outbox.resolve(answer.id) is not None:
            self._save()
        for waiter in self._waiters.pop(answer.id, []):
            if waiter.done():
                continue
            if isinstance(answer, wire.AckError):
                waiter.set_exception(SendError(answer.id, answer.error.code, answer.error.message))
            else:
                waiter.set_result(answer)

    def fail_all(self, error: ChatClientError) -> None:
        """Wake every caller with `error` (the client closed or was refused)."""
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
        self._waiters.clear()

    def _save(self) -> None:
        if self._file is not None:
            self._file.save(self.outbox.requests())

"""The outbox: send requests published but not yet acknowledged, and when to publish again.

A request stays here, under its client-chosen `id`, until its ack (or error ack)
arrives. It is published again with the *same* id after every reconnect and whenever
it has waited `retry_interval` seconds without an answer: the server turns a repeated id
into the same ack, never a second message, so retrying is always safe and is the only
way to survive an ack lost to a crash.

`Outbox` is pure bookkeeping (the caller passes `now`); `OutboxFile` keeps its contents
across client restarts.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.ids import is_client_msg_id

log = logging.getLogger(__name__)

FILE_VERSION = 1


def send_request(
    request_id: str,
    text: str | None,
    *,
    to: str | None,
    conv: str | None,
    kind: str,
    media: str | None,
) -> dict[str, Any]:
    """The contract's send request. Only the shape is checked here; the server judges the rest."""
    if (to is None) == (conv is None):
        raise ValueError("give exactly one of to= and conv=")
    if not is_client_msg_id(request_id):
        raise ValueError(f"id {request_id!r} must be 1-64 of [A-Za-z0-9_-]")
    request: dict[str, Any] = {"id": request_id, "kind": kind}
    if to is not None:
        request["to"] = to
    else:
        request["conv"] = conv
    if text is not None:
        request["text"] = text
    if media is not None:
        request["media"] = media
    return request


@dataclass(slots=True)
class PendingSend:
    """One unacknowledged request; `published_at` is None until published on this connection."""

    request: dict[str, Any]
    published_at: float | None = None

    @property
    def id(self) -> str:
        """The request's client-chosen id."""
        return str(self.request["id"])


class Outbox:
    """Unacknowledged send requests, in the order they were made."""

    def __init__(self, requests: list[dict[str, Any]] | None = None) -> None:
        self._pending: dict[str, PendingSend] = {}
        for request in requests or []:
            self.add(request)

    def add(self, request: dict[str, Any]) -> bool:
        """Keep `request` until acknowledged; False if its id is already waiting."""
        request_id = request["id"]
        if request_id in self._pending:
            return False
        self._pending[request_id] = PendingSend(dict(request))
        return True

    def resolve(self, request_id: str) -> dict[str, Any] | None:
        """Forget an acknowledged request; returns it, or None if it was not waiting."""
        pending = self._pending.pop(request_id, None)
        return pending.request if pending else None

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    def ids(self) -> list[str]:
        """The ids of the waiting requests, oldest first."""
        return list(self._pending)

    def requests(self) -> list[dict[str, Any]]:
        """Every waiting request, oldest first (what `OutboxFile` saves)."""
        return [pending.request for pending in self._pending.values()]

    def due(self, now: float, retry_interval: float) -> list[PendingSend]:
        """Requests never published on this connection, or unanswered for `retry_interval`."""
        return [
            pending
            for pending in self._pending.values()
            if pending.published_at is None or now - pending.published_at >= retry_interval
        ]

    def next_due_in(self, now: float, retry_interval: float) -> float | None:
        """Seconds until the next request falls due; None when nothing is waiting."""
        waits = [
            0.0 if pending.published_at is None else pending.published_at + retry_interval - now
            for pending in self._pending.values()
        ]
        return max(0.0, min(waits)) if waits else None

    def mark_published(self, request_id: str, now: float) -> None:
        """The request was just published (again); its retry clock restarts."""
        pending = self._pending.get(request_id)
        if pending is not None:
            pending.published_at = now

    def mark_all_due(self) -> None:
        """After a reconnect every waiting request is published again at once."""
        for pending in self._pending.values():
            pending.published_at = None


class OutboxFile:
    """An outbox saved as JSON, replaced atomically so a crash never leaves half a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[dict[str, Any]]:
        """The saved requests; a missing file is an empty outbox, a corrupt one is set aside."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            self._set_aside(f"unreadable ({exc})")
            return []
        pending = document.get("pending") if isinstance(document, dict) else None
        if not isinstance(pending, list):
            self._set_aside("not an outbox file")
            return []
        requests = [
            request
            for request in pending
            if isinstance(request, dict)
            and isinstance(request.get("id"), str)
            and is_client_msg_id(request["id"])
        ]
        if len(requests) != len(pending):
            log.warning(
                "outbox %s: skipped %d malformed entries", self.path, len(pending) - len(requests)
            )
        return requests

    def save(self, requests: list[dict[str, Any]]) -> None:
        """Replace the file's contents with `requests`, durably."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = json.dumps({"version": FILE_VERSION, "pending": requests})
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(document)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _set_aside(self, why: str) -> None:
        aside = self.path.with_name(self.path.name + ".corrupt")
        log.error("outbox %s is %s; moved to %s and starting empty", self.path, why, aside)
        os.replace(self.path, aside)

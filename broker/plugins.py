"""amqtt plugins: who may connect (`AuthPlugin`) and which topics they may use (`TopicPlugin`).

Both read the store through `Directory` on every call, so a user added, disabled or
given a new token is seen by the very next CONNECT or SUBSCRIBE. amqtt swallows
exceptions raised in plugins, so each one is caught and logged here and the request
refused.
"""

from __future__ import annotations

import hmac
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from backend.accounts import BACKEND_CLIENT_ID, BACKEND_USERNAME, backend_password, hash_token
from backend.ids import CLIENT_TAG, user_of_client_id
from backend.store.directory import Directory
from broker import acl

log = logging.getLogger(__name__)


class _LazyDirectory:
    """A `Directory` opened on first use and reopened after an error.

    The broker may start before the database file exists, and a broken read-only
    connection should not outlive the error that broke it.
    """

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self._directory: Directory | None = None

    def check_token(self, user: str, token: str) -> bool:
        return self._call(lambda directory: directory.check_token(user, token))

    def shares_conversation(self, user: str, other: str) -> bool:
        return self._call(lambda directory: directory.shares_conversation(user, other))

    def close(self) -> None:
        if self._directory is not None:
            self._directory.close()
            self._directory = None

    def _call(self, query: Callable[[Directory], bool]) -> bool:
        if self._directory is None:
            self._directory = Directory(self._db_path)
        try:
            return bool(query(self._directory))
        except sqlite3.Error:
            self.close()
            raise


class AuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt is untyped
    """No anonymous access: the backend by its generated secret, users by their token."""

    @dataclass
    class Config:
        data_dir: str
        db_path: str

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        data_dir = Path(self.config.data_dir)
        self._directory = _LazyDirectory(Path(self.config.db_path))
        self._backend_hash = hash_token(backend_password(data_dir))

    async def authenticate(self, *, session: Any) -> bool:
        """True only for a known account with the right secret, client id and will."""
        try:
            allowed = self._authenticate(
                session.username,
                session.password,
                session.client_id,
                session.will_topic if session.will_flag else None,
            )
        except Exception:
            log.exception("authentication of client %r failed; refusing it", session.client_id)
            return False
        if not allowed:
            log.info(
                "refused CONNECT of client %r as %r from %s",
                session.client_id,
                session.username,
                session.remote_address,
            )
        return allowed

    def _authenticate(
        self, username: str | None, password: str | None, client_id: str | None, will: str | None
    ) -> bool:
        if username is None or password is None or client_id is None:
            return False
        if will is not None and not acl.is_allowed_will(username, will):
            return False
        if username == BACKEND_USERNAME:
            # Compare hashes, as bytes: equal length, and no str/ASCII pitfalls.
            return is_backend_client_id(client_id) and hmac.compare_digest(
                hash_token(password), self._backend_hash
            )
        if user_of_client_id(client_id) != username:
            return False
        return self._directory.check_token(username, password)

    async def close(self) -> None:
        self._directory.close()


class TopicPlugin(BaseTopicPlugin):  # type: ignore[misc]  # amqtt is untyped
    """Publish and subscribe rights from `broker.acl`; receiving was checked at SUBSCRIBE."""

    @dataclass
    class Config:
        db_path: str

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._directory = _LazyDirectory(Path(self.config.db_path))

    async def topic_filtering(
        self, *, session: Any = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        """Allowed or not. RECEIVE runs per delivery, so it is O(1) except for presence."""
        try:
            if action == Action.RECEIVE:
                return self._may_receive(session.username, topic)
            return self._allowed(session.username, topic, action)
        except Exception:
            log.exception("checking %s of %r by %r failed; refusing it", action, topic, session)
            return False

    def _may_receive(self, account: str | None, topic: str | None) -> bool:
        # The subscription was checked when made. Presence is checked again at each
        # delivery: sharing a conversation can end while the subscription lasts.
        if account is None or topic is None:
            return False
        other = acl.presence_of_other(account, topic)
        return other is None or self._directory.shares_conversation(account, other)

    def _allowed(self, account: str | None, topic: str | None, action: Action | None) -> bool:
        if account is None or topic is None:
            return False
        if action == Action.PUBLISH:
            return acl.may_publish(account, topic)
        if action == Action.SUBSCRIBE:
            return acl.may_subscribe(account, topic, self._directory.shares_conversation)
        return False

    async def close(self) -> None:
        self._directory.close()


def is_backend_client_id(client_id: str) -> bool:
    """`_mqchat-backend`, or `_mqchat-backend:<tag>` for a second connection of the backend."""
    base, sep, tag = client_id.partition(":")
    return base == BACKEND_CLIENT_ID and (not sep or CLIENT_TAG.fullmatch(tag) is not None)

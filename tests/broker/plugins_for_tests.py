"""amqtt plugins that misbehave on purpose, loaded by dotted path in some tests."""

from __future__ import annotations

from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BasePlugin, BaseTopicPlugin


class AllowAnyone(BaseAuthPlugin):
    """Lets every CONNECT in, will and all, so only the broker itself can refuse a will."""

    async def authenticate(self, *, session: Any) -> bool:
        return True


class FailingAuth(BaseAuthPlugin):
    async def authenticate(self, *, session: Any) -> bool:
        raise RuntimeError("auth plugin failure")


class FailingOnSubscribe(BaseTopicPlugin):
    async def topic_filtering(
        self, *, session: Any = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        if action == Action.SUBSCRIBE:
            raise RuntimeError("topic plugin failure")
        return True


class FailingOnConnected(BasePlugin):  # type: ignore[type-arg]
    async def on_broker_client_connected(self, *, client_id: str, client_session: Any) -> None:
        raise RuntimeError("event handler failure")

"""The embedded broker's configuration, built from mqchat's `Settings`.

Two parts: the dict that amqtt validates (listener and plugins), and the limits that
our patched broker enforces itself, since amqtt has no setting for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.accounts import BACKEND_USERNAME
from backend.settings import Settings

# Our plugins, named explicitly: with no "plugins" key amqtt loads its defaults, which
# let anonymous clients in and publish $SYS topics.
AUTH_PLUGIN = "broker.plugins.AuthPlugin"
TOPIC_PLUGIN = "broker.plugins.TopicPlugin"
CONNECTION_EVENTS_PLUGIN = "broker.connection_events.ConnectionEventsPlugin"

# An offline persistent session is dropped after this long. The store, not the broker, is
# the source of truth: a client away longer gets session-present 0, subscribes again and
# syncs. Without an expiry, every client id ever used would hold a session for good.
SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    """What the patched broker enforces on every connection."""

    connect_timeout_s: float = 10.0
    """A socket that has not sent a whole CONNECT by then is closed."""
    max_packet_bytes: int = 256 * 1024
    """A larger packet (fixed header included) from a client closes its connection."""
    offline_queue_limit: int = 1000
    """Messages queued per session (offline, or past its in-flight window); beyond it
    the oldest are dropped."""
    backend_queue_limit: int = 50_000
    """The same for the backend's sessions: every client request goes through its queue,
    and a burst must not lose requests while it catches up."""

    def queue_limit(self, username: str | None) -> int:
        """How many messages a session of `username` may have queued."""
        return (
            self.backend_queue_limit if username == BACKEND_USERNAME else self.offline_queue_limit
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerLimits:
        return cls(
            connect_timeout_s=settings.connect_timeout_s,
            max_packet_bytes=settings.max_packet_bytes,
            offline_queue_limit=settings.offline_queue_limit,
        )


def amqtt_config(settings: Settings) -> dict[str, Any]:
    """The amqtt config dict: one TCP listener named `default` and our two plugins only."""
    # amqtt splits "host:port" at the last colon, so an IPv6 host needs no brackets
    # (brackets would be kept and fail to resolve).
    bind = f"{settings.host}:{settings.mqtt_port}"
    return {
        "listeners": {
            "default": {
                "type": "tcp",
                "bind": bind,
                "max_connections": settings.max_connections,
            },
        },
        "plugins": {
            AUTH_PLUGIN: {"data_dir": str(settings.data_dir), "db_path": str(settings.db_path)},
            TOPIC_PLUGIN: {"db_path": str(settings.db_path)},
            CONNECTION_EVENTS_PLUGIN: {},
        },
        # amqtt adds this to every client's keep-alive; the patched broker applies
        # MQTT's own 1.5 x keep-alive instead.
        "timeout_disconnect_delay": 0,
        "session_expiry_interval": SESSION_EXPIRY_S,
    }

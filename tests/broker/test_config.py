"""The amqtt config and the limits built from Settings."""

from __future__ import annotations

from pathlib import Path

from amqtt.contexts import BrokerConfig

from backend.accounts import BACKEND_USERNAME
from backend.settings import Settings
from broker.config import AUTH_PLUGIN, TOPIC_PLUGIN, BrokerLimits, amqtt_config


def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        host="127.0.0.2",
        mqtt_port=1999,
        max_connections=7,
        connect_timeout_s=3.5,
        max_packet_bytes=4096,
        offline_queue_limit=9,
    )


def test_our_plugins_are_named_and_none_of_amqtts(tmp_path: Path) -> None:
    # amqtt's defaults (anonymous access, $SYS) load whenever "plugins" is missing.
    plugins = amqtt_config(settings(tmp_path))["plugins"]
    assert {AUTH_PLUGIN, TOPIC_PLUGIN} <= set(plugins)
    assert all(path.startswith("broker.") for path in plugins)
    assert plugins[AUTH_PLUGIN] == {
        "data_dir": str(tmp_path),
        "db_path": str(tmp_path / "mqchat.db"),
    }
    assert plugins[TOPIC_PLUGIN] == {"db_path": str(tmp_path / "mqchat.db")}


def test_one_tcp_listener_named_default(tmp_path: Path) -> None:
    listeners = amqtt_config(settings(tmp_path))["listeners"]
    assert listeners == {"default": {"type": "tcp", "bind": "127.0.0.2:1999", "max_connections": 7}}


def test_amqtt_accepts_the_config(tmp_path: Path) -> None:
    config = BrokerConfig.from_dict(amqtt_config(settings(tmp_path)))
    assert config.listeners["default"]["bind"] == "127.0.0.2:1999"
    assert config.session_expiry_interval is not None
    assert config.timeout_disconnect_delay == 0


def test_limits_come_from_settings(tmp_path: Path) -> None:
    assert BrokerLimits.from_settings(settings(tmp_path)) == BrokerLimits(
        connect_timeout_s=3.5, max_packet_bytes=4096, offline_queue_limit=9
    )


def test_the_backend_queues_more_than_a_user() -> None:
    limits = BrokerLimits(offline_queue_limit=10, backend_queue_limit=500)
    assert limits.queue_limit("alice") == 10
    assert limits.queue_limit(BACKEND_USERNAME) == 500
    assert limits.queue_limit(None) == 10

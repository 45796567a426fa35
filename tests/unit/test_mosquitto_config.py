"""Mosquitto's generated configuration and the plugin build."""

from __future__ import annotations

from pathlib import Path

from backend.mosquitto_config import MosquittoConfig, build_plugin


def config(tmp_path: Path) -> MosquittoConfig:
    return MosquittoConfig(
        host="127.0.0.1",
        port=18830,
        work_dir=tmp_path,
        plugin=tmp_path / "mqchat_auth.so",
        db_path=tmp_path / "mqchat.db",
        backend_username="_mqchat",
        backend_password_file=tmp_path / "backend.secret",
        max_connections=20_000,
        max_packet_bytes=262_144,
        offline_queue_limit=1000,
    )


def directives(text: str) -> dict[str, str]:
    pairs = (line.split(" ", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs if key not in ("log_type",)}


def test_the_configuration_is_secure_and_durable_by_default(tmp_path: Path) -> None:
    settings = directives(config(tmp_path).render())
    assert settings["allow_anonymous"] == "false"
    assert settings["listener"] == "18830 127.0.0.1"
    assert settings["persistence"] == "true"
    assert settings["persistence_location"] == f"{tmp_path}/"
    assert settings["max_packet_size"] == "262144"
    assert settings["max_connections"] == "20000"
    # Raised well past Mosquitto's default of 1000 for the backend's own queue.
    assert int(settings["max_queued_messages"]) == 10_000
    assert settings["plugin"] == str(tmp_path / "mqchat_auth.so")
    assert settings["plugin_opt_database"] == str(tmp_path / "mqchat.db")
    assert settings["plugin_opt_backend_password_file"] == str(tmp_path / "backend.secret")


def test_the_plugin_is_built_once_per_source(tmp_path: Path) -> None:
    library = build_plugin(tmp_path)
    assert library.exists() and library.stat().st_size > 0
    modified = library.stat().st_mtime_ns
    assert build_plugin(tmp_path) == library
    assert library.stat().st_mtime_ns == modified  # not rebuilt

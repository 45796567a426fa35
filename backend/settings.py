"""Server settings: defaults, then a TOML config file, then `MQCHAT_*` env, then CLI flags."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.store.sqlite import Durability


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MQCHAT_", extra="forbid")

    data_dir: Path = Path("mqchat-data")
    host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=0, le=65535)
    http_port: int = Field(default=8080, ge=0, le=65535)

    # "embedded" runs amqtt, "mosquitto" runs Mosquitto (both started and supervised by
    # the server); "mqtt://host:port" uses a broker that is already running.
    broker: str = "embedded"
    # The embedded broker in a process of its own (one core each) or inside the server's.
    broker_process: Literal["separate", "inline"] = "separate"
    # Credentials of the backend's account on an external broker (a supervised broker's
    # are generated into the data dir on first start).
    broker_username: str | None = None
    broker_password: str | None = None

    durability: Durability = "full"
    max_group_members: int = Field(default=256, ge=2)
    max_connections: int = Field(default=20_000, ge=1)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_packet_bytes: int = Field(default=256 * 1024, ge=1024)
    offline_queue_limit: int = Field(default=1000, ge=1)

    # Media uploads. While streaming, a body may reach the larger of the two byte limits
    # (its kind is known only once its bytes are); the per-kind limit applies after that.
    max_image_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_voice_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=50_000_000, ge=1)  # decompression-bomb bound
    # Uploads never used in a message are removed after this long.
    unused_media_ttl_s: float = Field(default=24 * 3600.0, gt=0)
    media_cleanup_interval_s: float = Field(default=600.0, gt=0)

    # Per-user rate limits, token buckets: `*_per_s` a second, up to `*_burst` saved up.
    # Over one, a send gets `rate_limited` on in/ack, a receipt or sync on in/error, an
    # HTTP call 429; nothing is done. `rate_limits = false` lifts all but typing (benches).
    rate_limits: bool = True
    send_per_s: float = Field(default=20.0, gt=0)
    send_burst: int = Field(default=50, ge=1)
    # A full sync batch (1,000 messages) can call for a `delivered` receipt per message.
    receipt_per_s: float = Field(default=50.0, gt=0)
    receipt_burst: int = Field(default=1000, ge=1)
    sync_per_s: float = Field(default=5.0, gt=0)
    sync_burst: int = Field(default=20, ge=1)
    http_per_s: float = Field(default=50.0, gt=0)  # every authenticated HTTP call
    http_burst: int = Field(default=100, ge=1)
    upload_per_s: float = Field(default=1.0, gt=0)  # POST /v1/media, on top of http_*
    upload_burst: int = Field(default=30, ge=1)
    # Per user and conversation, always on; the excess is dropped without an error.
    typing_per_s: float = Field(default=1.0, gt=0)
    typing_burst: int = Field(default=3, ge=1)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "mqchat.db"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def embedded_broker(self) -> bool:
        return self.broker == "embedded"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from a TOML file (keys as in `Settings`), the environment and `overrides`.

    Overrides that are None (a CLI flag not given) are ignored.
    """
    from_file: dict[str, Any] = {}
    if config_file is not None:
        with config_file.open("rb") as handle:
            from_file = tomllib.load(handle)
    given = {key: value for key, value in overrides.items() if value is not None}
    # The environment beats the file: read it through a Settings built without the file.
    from_env = Settings().model_dump(exclude_unset=True)
    return Settings.model_validate({**from_file, **from_env, **given})

"""How a session connects, and what it publishes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from backend.mqtt.packets import MAX_REMAINING_LENGTH, Connect


class Publication(Protocol):
    """What `publish_many` sends: any object with these four attributes."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def qos(self) -> int: ...
    @property
    def retain(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Options:
    """How to connect; see `Session`."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    keepalive: int = 60
    clean_session: bool = True
    timeout: float = 10.0
    max_inflight: int = 1000
    manual_ack: bool = False
    max_packet_bytes: int = MAX_REMAINING_LENGTH

    def connect_packet(self) -> Connect:
        return Connect(
            self.client_id, self.username, self.password, self.keepalive, self.clean_session
        )

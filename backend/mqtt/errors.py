"""Why an MQTT session failed: one exception type, subclasses by cause, `reason` in words."""

from __future__ import annotations

# What a CONNACK's return codes 1-5 mean (MQTT 3.1.1, table 3.1).
CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class MqttError(Exception):
    """The connection to the broker failed or ended; `reason` says why, for a log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectRefused(MqttError):
    """The broker answered CONNECT with a non-zero `return_code`."""

    def __init__(self, return_code: int) -> None:
        meaning = CONNACK_REASONS.get(return_code, "reserved return code")
        super().__init__(f"CONNECT refused: {return_code} ({meaning})")
        self.return_code = return_code


class SubscribeRefused(MqttError):
    """The broker refused (SUBACK 0x80) the `refused` topic filters."""

    def __init__(self, refused: list[str]) -> None:
        super().__init__(f"SUBSCRIBE refused for {', '.join(map(repr, refused))}")
        self.refused = refused


class ConnectionLost(MqttError):
    """The connection ended without our asking: closed, reset, or the broker fell silent."""


class ProtocolError(MqttError):
    """The broker sent something MQTT 3.1.1 does not allow; the connection was closed."""

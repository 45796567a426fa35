"""How the SDK connects: identity checks, the aiomqtt client it builds, and reconnect pacing."""

from __future__ import annotations

import json
import random
import secrets
import socket
from dataclasses import dataclass

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from backend.ids import CLIENT_TAG, is_user_id
from backend.topics import will_topic

# Longest wait for a CONNACK, SUBACK or PUBACK before the call fails with MqttError.
CALL_TIMEOUT_S = 10.0
# QoS 1 publications in flight at once; paho's default of 20 would throttle bursts of sends.
MAX_INFLIGHT = 1000
RECONNECT_DELAYS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0)
# A session this long proves the server takes us; the next drop starts over from the fastest delay.
STABLE_SESSION_S = 10.0
# CONNACK refusals that no retry can fix: bad username/password and not authorised, as
# MQTT 3.1.1 return codes and as the MQTT 5 reason codes paho reports them under.
CREDENTIAL_REFUSALS = {4, 5, 134, 135}

ONLINE = json.dumps({"state": "online"}).encode()
OFFLINE = json.dumps({"state": "offline"}).encode()


@dataclass(frozen=True, slots=True)
class Identity:
    """Who connects: the MQTT client id is `<user>` or `<user>:<tag>`."""

    user: str
    token: str
    tag: str | None = None

    def __post_init__(self) -> None:
        if not is_user_id(self.user):
            raise ValueError(f"{self.user!r} is not a user id")
        if self.tag is not None and CLIENT_TAG.fullmatch(self.tag) is None:
            raise ValueError(f"tag {self.tag!r} must be 1-32 of [A-Za-z0-9_-]")

    @property
    def client_id(self) -> str:
        """The MQTT client id: `<user>` or `<user>:<tag>`."""
        return self.user if self.tag is None else f"{self.user}:{self.tag}"


def mqtt_client(host: str, port: int, identity: Identity, keepalive: int) -> aiomqtt.Client:
    """An MQTT 3.1.1 client with a persistent session and the contract's offline will."""
    return aiomqtt.Client(
        host,
        port,
        username=identity.user,
        password=identity.token,
        identifier=identity.client_id,
        protocol=aiomqtt.ProtocolVersion.V311,
        # The broker queues for short absences; sync recovers anything longer.
        clean_session=False,
        keepalive=keepalive,
        will=aiomqtt.Will(will_topic(identity.user), OFFLINE, qos=1),
        timeout=CALL_TIMEOUT_S,
        max_inflight_messages=MAX_INFLIGHT,
        # Without it, Nagle's algorithm holds small publications back ~40 ms at low load.
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )


def refused_credentials(error: MqttConnectError) -> bool:
    """Whether a CONNACK refusal is about the credentials (so retrying is pointless)."""
    rc = error.rc
    code = rc if isinstance(rc, int) or rc is None else rc.value
    return code in CREDENTIAL_REFUSALS


def reconnect_delay(attempt: int) -> float:
    """Backoff with jitter, so that clients dropped together do not all return together."""
    base = RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)]
    return base * (1 + random.random() / 4)


def new_request_id() -> str:
    """A fresh client message / request id: 22 characters of [A-Za-z0-9_-], 128 random bits."""
    return secrets.token_urlsafe(16)

"""An MQTT 3.1.1 session that outlives its connections.

The session keeps what must survive a reconnect: the packet ids in use and our QoS 1
publications the broker has not acknowledged, which the next connection sends again.
Each `connect()` is one TCP connection (`backend.mqtt.connection.Connection`).
"""

from __future__ import annotations

from backend.mqtt.connection import Connection
from backend.mqtt.inflight import Unacked
from backend.mqtt.options import Options


class Session:
    """`async with session.connect() as connection:`, as often as the broker drops us.

    - `clean_session=False` asks the broker to keep our subscriptions and the messages
      for us while we are away (and to send again what we had not acknowledged);
    - `keepalive` s: a PINGREQ every half of it; a broker silent for half of it after
      one is taken for dead (`ConnectionLost`);
    - `timeout` s: for TCP connect plus CONNACK, and for each SUBACK;
    - `max_inflight`: our QoS 1 publications awaiting PUBACK before `publish_many` waits;
    - `manual_ack`: PUBACK a received QoS 1 message only once `connection.ack(message)`
      says it was handled, so that the broker sends it again if we die before;
      otherwise on receipt.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 60,
        clean_session: bool = True,
        timeout: float = 10.0,
        max_inflight: int = 1000,
        manual_ack: bool = False,
    ) -> None:
        if not 0 < max_inflight < 60_000:  # leaves packet ids for one batch beyond it
            raise ValueError(f"max_inflight {max_inflight} is not in 1..59,999")
        self.options = Options(
            host,
            port,
            client_id,
            username,
            password,
            keepalive,
            clean_session,
            timeout,
            max_inflight,
            manual_ack,
        )
        self.unacked = Unacked()

    def connect(self) -> Connection:
        """A new connection, opened by `async with`."""
        return Connection(self.options, self.unacked)

"""The backend's own MQTT 3.1.1 client: a thin asyncio one, QoS 0 and 1.

    session = Session(host, port, client_id="backend", username=..., password=...)
    async with session.connect() as connection:
        await connection.subscribe([("chat/u/+/send", 1)])
        async for message in connection.messages:
            ...
            await connection.publish_many(publications)

`packets`, `encode` and `decode` are the protocol without I/O; `inflight` the QoS 1
bookkeeping; `inbox` what was received; `connection` one TCP connection; `session`
what outlives it.
"""

from backend.mqtt.connection import Connection
from backend.mqtt.errors import (
    ConnectionLost,
    ConnectRefused,
    MqttError,
    ProtocolError,
    SubscribeRefused,
)
from backend.mqtt.options import Publication
from backend.mqtt.packets import Publish as Message
from backend.mqtt.session import Session

__all__ = [
    "ConnectRefused",
    "Connection",
    "ConnectionLost",
    "Message",
    "MqttError",
    "ProtocolError",
    "Publication",
    "Session",
    "SubscribeRefused",
]

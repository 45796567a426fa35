"""Message scenarios: QoS 1 relay from one publisher to one subscriber, and a 256-topic fan-out.

Both use mqchat's real topics and accounts, so the broker does everything it does in
production (authentication, the topic plugin on PUBLISH and on every delivery):
- relay: user `u0` publishes requests on `chat/u/u0/send`, the backend receives them on
  `chat/u/+/send`; the publisher keeps `window` PUBLISHes unacknowledged;
- fan-out: the backend publishes one message to each of 256 inboxes,
  `chat/u/<user>/in/msg`, in one burst; each user has its own connection subscribed to
  `chat/u/<user>/in/#`. A round lasts until the last of them has its copy.
Every wait is bounded; a scenario that cannot finish raises instead of hanging.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from backend.accounts import BACKEND_CLIENT_ID, BACKEND_USERNAME
from tests.broker.bench.wire import BenchError, WireClient, open_client
from tests.broker.raw import publish_packet

REQUEST = b'{"id":"m1","conv":"dm:u0:u1","kind":"text","text":"hello there"}'
INBOX_MESSAGE = b'{"conv":"g:0123456789abcdef","seq":42,"from":"u0","ts":1,"text":"hi all"}'
WAIT_S = 60.0
WARM_UP = 200  # relayed messages before the measured ones


async def relay(
    port: int, user: str, token: str, backend_secret: str, count: int, window: int
) -> float:
    """Messages per second from `user` to the backend, all QoS 1, `window` in flight."""
    backend = await open_client(port, BACKEND_CLIENT_ID, BACKEND_USERNAME, backend_secret)
    publisher = await open_client(port, user, user, token)
    try:
        await backend.subscribe("chat/u/+/send")
        await _relay_messages(backend, publisher, user, WARM_UP, window)
        started = time.perf_counter()
        await _relay_messages(backend, publisher, user, count, window)
        return count / (time.perf_counter() - started)
    finally:
        backend.close()
        publisher.close()


async def _relay_messages(
    subscriber: WireClient, publisher: WireClient, user: str, count: int, window: int
) -> None:
    loop = asyncio.get_running_loop()
    received_all = loop.create_future()
    acked_all = loop.create_future()
    state = {"sent": 0, "acked": 0, "received": 0}
    topic = f"chat/u/{user}/send"

    def send_next() -> None:
        state["sent"] += 1
        publisher.publish(topic, REQUEST, state["sent"] % 65535 + 1)

    def on_puback(packet_id: int) -> None:
        state["acked"] += 1
        if state["sent"] < count:
            send_next()
        elif state["acked"] == count and not acked_all.done():
            acked_all.set_result(None)

    def on_publish(topic: str, payload: bytes) -> None:
        state["received"] += 1
        if state["received"] == count and not received_all.done():
            received_all.set_result(None)

    publisher.on_puback = on_puback
    subscriber.on_publish = on_publish
    for _ in range(min(window, count)):
        send_next()
    try:
        async with asyncio.timeout(WAIT_S + count / 100):
            await asyncio.gather(received_all, acked_all)
    except TimeoutError:
        raise BenchError(f"relay stalled: {state}") from None


async def fan_out(
    port: int, users: Mapping[str, str], backend_secret: str, rounds: int, warmup: int = 3
) -> list[float]:
    """Seconds from the burst of one PUBLISH per user's inbox to the last delivery, per round."""
    subscribers = await _subscribed_inboxes(port, users)
    backend = await open_client(
        port, f"{BACKEND_CLIENT_ID}:bench", BACKEND_USERNAME, backend_secret
    )
    try:
        burst = b"".join(
            publish_packet(f"chat/u/{user}/in/msg", INBOX_MESSAGE, 1, n + 1)
            for n, user in enumerate(users)
        )
        latencies = []
        for round_number in range(warmup + rounds):
            latency = await _fan_out_round(backend, subscribers, burst)
            if round_number >= warmup:
                latencies.append(latency)
            await asyncio.sleep(0.02)  # rounds apart, as separate group messages would be
        return latencies
    finally:
        backend.close()
        for subscriber in subscribers:
            subscriber.close()


async def _subscribed_inboxes(port: int, users: Mapping[str, str]) -> list[WireClient]:
    clients = []
    try:
        for user, token in users.items():
            client = await open_client(port, user, user, token)
            clients.append(client)
            await client.subscribe(f"chat/u/{user}/in/#")
    except BaseException:
        for client in clients:
            client.close()
        raise
    return clients


async def _fan_out_round(backend: WireClient, subscribers: list[WireClient], burst: bytes) -> float:
    loop = asyncio.get_running_loop()
    delivered_all = loop.create_future()
    acked_all = loop.create_future()
    expected = len(subscribers)
    state = {"delivered": 0, "acked": 0, "last": 0.0}

    def on_publish(topic: str, payload: bytes) -> None:
        state["delivered"] += 1
        if state["delivered"] == expected:
            state["last"] = time.perf_counter()
            if not delivered_all.done():
                delivered_all.set_result(None)

    def on_puback(packet_id: int) -> None:
        state["acked"] += 1
        if state["acked"] == expected and not acked_all.done():
            acked_all.set_result(None)

    for subscriber in subscribers:
        subscriber.on_publish = on_publish
    backend.on_puback = on_puback
    started = time.perf_counter()
    backend.send(burst)
    try:
        async with asyncio.timeout(WAIT_S):
            await asyncio.gather(delivered_all, acked_all)
    except TimeoutError:
        raise BenchError(f"fan-out round stalled: {state}") from None
    return state["last"] - started

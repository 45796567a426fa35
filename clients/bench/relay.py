"""The raw QoS 1 relay rate of the same broker: what it can do with no backend attached.

A standalone broker on the bench's data dir (`python -m broker`, or Mosquitto with
mqchat's plugin: `clients.bench.standalone`); one user publishes QoS 1 to
its own `chat/u/<user>/send` and the backend's account (client id
`_mqchat-backend:bench`) receives them on `chat/u/+/send` at QoS 1: the first hop of
every chat message. The rate is what the subscriber received per second. Both ends
are `rawmqtt` clients, lighter than paho, so that the broker is what is measured.

The window is end to end (published, not yet received), not PUBACKs: the broker
PUBACKs a publish before delivering it, so a publisher paced by PUBACKs alone can
outrun the subscriber, and the broker then drops the oldest of the subscriber's
queue (its `offline_queue_limit` bounds online sessions too). A rate with drops in it
would not be sustainable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from backend.accounts import BACKEND_CLIENT_ID, BACKEND_USERNAME, backend_password
from backend.topics import ClientTopic, client_topic
from clients.bench.mqtt import MqttFailure
from clients.bench.procfs import machine_sample, own_cpu_seconds
from clients.bench.rawmqtt import RawClient
from clients.bench.server import process_tree_cpu
from clients.bench.stats import count_within, cpu_percent, rate

# Enough in flight to keep the broker busy (fewer leaves it waiting on round trips),
# within what it holds per subscriber (100 in flight plus 1000 queued).
DEFAULT_WINDOW = 500
RELAY_CLIENT_ID = f"{BACKEND_CLIENT_ID}:bench"
CONNECT_TIMEOUT_S = 30.0
DRAIN_S = 10.0
# A send request of the size the load phases publish.
PAYLOAD = (
    b'{"id":"m123456","to":"b000000-f1s-42","kind":"text","text":"m123456 ' + b"x" * 50 + b'"}'
)


@dataclass(frozen=True, slots=True)
class RelaySpec:
    """How long to publish, with how many unacknowledged publishes, at most how many."""

    duration_s: float = 5.0
    window: int = DEFAULT_WINDOW
    max_messages: int = 1_000_000


@dataclass(frozen=True, slots=True)
class RelayResult:
    """Messages per second the subscriber received; `ok` when none went missing."""

    run: int
    duration_s: float
    window: int
    published: int
    received: int
    relayed_per_s: float
    cpu_percent: dict[str, float]
    errors: tuple[str, ...] = ()
    broker: str = "embedded"
    """Which broker relayed: "embedded" or "mosquitto"."""

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Relay:
    spec: RelaySpec
    topic: str
    published: int = 0
    acked: int = 0
    deadline: float = float("inf")
    publisher: RawClient | None = None

    def __post_init__(self) -> None:
        self.arrivals: list[float] = []
        self.caught_up = asyncio.Event()
        """Set whenever the subscriber has everything published so far."""

    def on_message(self, _topic: str, _payload: bytes) -> None:
        self.arrivals.append(time.monotonic())
        self.publish_next()
        if len(self.arrivals) >= self.published:
            self.caught_up.set()

    def on_published(self) -> None:
        self.acked += 1

    def publish_next(self) -> None:
        """Publish while fewer than `window` are on their way to the subscriber."""
        if (
            self.published - len(self.arrivals) < self.spec.window
            and self.published < self.spec.max_messages
            and time.monotonic() < self.deadline
        ):
            assert self.publisher is not None
            self.publisher.publish(self.topic, PAYLOAD)
            self.published += 1


async def measure_relay(
    spec: RelaySpec,
    port: int,
    broker_pid: int,
    data_dir: Path,
    user: str,
    token: str,
    run: int,
    broker: str = "embedded",
) -> RelayResult:
    """Publish as `user` for `spec.duration_s`; the subscriber's receive rate."""
    relay = _Relay(spec, client_topic(user, ClientTopic.SEND))
    subscriber = RawClient(
        RELAY_CLIENT_ID, BACKEND_USERNAME, backend_password(data_dir), relay.on_message
    )
    relay.publisher = RawClient(f"{user}:relay", user, token, on_acked=relay.on_published)
    errors: list[str] = []
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await subscriber.connect(port)
            await subscriber.subscribe(client_topic("+", ClientTopic.SEND))
            await relay.publisher.connect(port)
    except (MqttFailure, TimeoutError, OSError) as error:
        subscriber.close()
        relay.publisher.close()
        return RelayResult(run, spec.duration_s, spec.window, 0, 0, 0.0, {}, (repr(error),), broker)
    cpu_before = _cpu(broker_pid)
    started = time.monotonic()
    relay.deadline = started + spec.duration_s
    for _ in range(spec.window):
        relay.publish_next()
    await asyncio.sleep(spec.duration_s)
    wall = time.monotonic() - started
    cpu_after = _cpu(broker_pid)
    relay.caught_up.clear()
    if len(relay.arrivals) < relay.published:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_S):
                await relay.caught_up.wait()
    subscriber.close()
    relay.publisher.close()
    received = len(relay.arrivals)
    if received < relay.acked:
        errors.append(f"{relay.acked - received} PUBACKed publishes never reached the subscriber")
    errors += [client.lost for client in (subscriber, relay.publisher) if client.lost]
    return RelayResult(
        run=run,
        duration_s=spec.duration_s,
        window=spec.window,
        published=relay.published,
        received=received,
        relayed_per_s=rate(
            count_within(relay.arrivals, started, started + spec.duration_s), spec.duration_s
        ),
        cpu_percent=cpu_percent(cpu_before, cpu_after, wall),
        errors=tuple(errors),
        broker=broker,
    )


def _cpu(broker_pid: int) -> dict[str, float]:
    return {
        **process_tree_cpu(broker_pid, label="broker"),
        "bench": own_cpu_seconds(),
        **machine_sample(),
    }

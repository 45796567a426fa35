"""One MQTT connection of a `ChatClient`: subscribe, announce, then run its loops until it drops.

The loops run in one TaskGroup, as named tasks, beside the reader in the foreground:
- `mqchat-outbox` publishes every unacknowledged send at once after connecting, new ones
  as they come, and each again after `retry_interval` without an answer (the backend may
  restart while this connection to the broker stays up);
- `mqchat-sync` syncs after connecting (and when asked), batch after batch until `more`
  is false, sending `delivered` receipts between batches as the contract asks;
- `mqchat-receipts` sends the receipts owed, a short while after the first is owed, so a
  burst of messages costs one cumulative receipt per conversation;
- `mqchat-holes` asks for a sync when a hole below a seen message does not fill by itself.
When the reader sees the connection drop, the group cancels the loops; the client's state
(outbox, seen seqs, receipts owed) lives on in `ClientState` for the next session.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

import aiomqtt

from backend import wire
from backend.topics import ClientTopic, InboxTopic, client_topic, inbox_filter, inbox_topic
from clients.connection import OFFLINE, ONLINE, new_request_id
from clients.errors import ChatClientError
from clients.events import decode_publication
from clients.state import ClientState

log = logging.getLogger(__name__)

SYNC_TIMEOUT_S = 30.0
SYNC_RETRY_DELAY_S = 1.0
RECEIPT_COALESCE_S = 0.2
# A group change made by this user over HTTP is a message it never receives (it is its
# sender), so holes are routine; they are checked for every second.
HOLE_CHECK_S = 1.0
SUBACK_FAILURE = 0x80


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """How a client behaves on each connection (see `ChatClient` for the meanings)."""

    receive: bool = True
    retry_interval: float = 5.0
    sync_limit: int = 500


class Session:
    """The loops of one connection; `run()` returns (raising MqttError) when it drops."""

    def __init__(self, mqtt: aiomqtt.Client, state: ClientState, options: SessionOptions) -> None:
        self.mqtt = mqtt
        self.state = state
        self.options = options
        self.outbox_due = asyncio.Event()
        self.receipts_due = asyncio.Event()
        self.sync_wanted = asyncio.Event()
        self._round_end: asyncio.Future[wire.SyncEnd] | None = None
        self._heard_at = 0.0  # loop time of the latest publication received

    def _topic(self, kind: ClientTopic) -> str:
        return client_topic(self.state.user, kind)

    async def open(self, presence_filters: list[str]) -> list[str]:
        """Subscribe (QoS 1) and, for a receiving client, announce being online.

        Returns the filters the broker refused.
        """
        user = self.state.user
        if self.options.receive:
            filters = [inbox_filter(user)]
        else:
            filters = [inbox_topic(user, InboxTopic.ACK), inbox_topic(user, InboxTopic.ERROR)]
        refused = await self.subscribe(filters + presence_filters)
        if self.options.receive:
            await self.mqtt.publish(self._topic(ClientTopic.PRESENCE), ONLINE, qos=1)
        return refused

    async def subscribe(self, filters: list[str]) -> list[str]:
        """Subscribe at QoS 1; returns the filters refused (SUBACK 0x80)."""
        granted = await self.mqtt.subscribe([(topic_filter, 1) for topic_filter in filters])
        refused = []
        for topic_filter, code in zip(filters, granted, strict=False):
            value = getattr(code, "value", code)  # an int, or a paho ReasonCode
            if isinstance(value, int) and value >= SUBACK_FAILURE:
                # Not a warning: the caller decides whether it matters, and says so.
                log.info(
                    "%s: the broker refused the subscription %r", self.state.client_id, topic_filter
                )
                refused.append(topic_filter)
        return refused

    async def run(self) -> None:
        """Run the loops until the connection drops; then raise its MqttError."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._outbox_loop(), name="mqchat-outbox")
                if self.options.receive:
                    self.sync_wanted.set()
                    self.receipts_due.set()  # marks read while offline
                    tasks.create_task(self._sync_loop(), name="mqchat-sync")
                    tasks.create_task(self._receipt_loop(), name="mqchat-receipts")
                    tasks.create_task(self._hole_watch(), name="mqchat-holes")
                else:
                    self.state.on_connected_send_only()
                await self._read()
        except* aiomqtt.MqttError as errors:
            raise errors.exceptions[0] from None

    async def goodbye(self) -> None:
        """Before a clean disconnect: send the receipts owed and announce being offline."""
        if self.options.receive:
            await self.send_receipts()
            await self.mqtt.publish(self._topic(ClientTopic.PRESENCE), OFFLINE, qos=1)

    async def send_receipts(self) -> None:
        """Publish every receipt owed, at once; those that fail stay owed."""
        receipts = self.state.core.pending_receipts()
        if not receipts:
            return
        topic = self._topic(ClientTopic.RECEIPT)
        results = await asyncio.gather(
            *(
                self.mqtt.publish(topic, json.dumps(receipt.to_wire()).encode(), qos=1)
                for receipt in receipts
            ),
            return_exceptions=True,
        )
        for receipt, result in zip(receipts, results, strict=True):
            if isinstance(result, BaseException):
                log.info("%s: receipt %s not sent (%r)", self.state.client_id, receipt, result)
                self.receipts_due.set()
            else:
                self.state.core.receipts.confirm(receipt)

    async def _read(self) -> None:
        async for message in self.mqtt.messages:
            self._heard_at = asyncio.get_running_loop().time()
            payload = message.payload
            body = (
                bytes(payload) if isinstance(payload, bytes | bytearray) else str(payload).encode()
            )
            item = decode_publication(self.state.user, message.topic.value, body)
            if item is None:
                continue
            if isinstance(item, wire.SyncEnd):
                self._on_sync_end(item)
            elif isinstance(item, wire.ErrorNotice):
                self._on_error_notice(item)
            self.state.dispatch(item)
            if isinstance(item, wire.Message | wire.Ack):
                self.receipts_due.set()

    def _on_sync_end(self, end: wire.SyncEnd) -> None:
        own = self.state.core.on_sync_end(end)
        if own and self._round_end is not None and not self._round_end.done():
            self._round_end.set_result(end)
        self.receipts_due.set()

    def _on_error_notice(self, notice: wire.ErrorNotice) -> None:
        current = self.state.core.round
        waiting = self._round_end
        if current is not None and notice.id == current.id and waiting and not waiting.done():
            error = notice.error
            waiting.set_exception(ChatClientError(f"sync refused: {error.code}: {error.message}"))

    async def _sync_loop(self) -> None:
        while True:
            await self.sync_wanted.wait()
            self.sync_wanted.clear()
            self.state.on_synced(await self._sync_fully())

    async def _sync_fully(self) -> dict[str, wire.ConvMarks]:
        """Sync batch after batch until the server says there is no more."""
        while True:
            end = await self._sync_round()
            if end is None:
                await asyncio.sleep(SYNC_RETRY_DELAY_S)
            elif end.more:
                await self.send_receipts()
            else:
                return dict(end.convs)

    async def _sync_round(self) -> wire.SyncEnd | None:
        """One request and its batch; None if it failed or went unanswered (then retried)."""
        core = self.state.core
        request = core.start_round(new_request_id(), self.options.sync_limit)
        self._round_end = asyncio.get_running_loop().create_future()
        try:
            await self.mqtt.publish(
                self._topic(ClientTopic.SYNC), json.dumps(request).encode(), qos=1
            )
            return await self._until_round_end(self._round_end)
        except (aiomqtt.MqttError, TimeoutError, ChatClientError) as exc:
            log.warning(
                "%s: sync round failed (%s); retrying", self.state.client_id, exc or "timeout"
            )
            core.abandon_round()
            return None
        finally:
            self._round_end = None

    async def _until_round_end(self, round_end: asyncio.Future[wire.SyncEnd]) -> wire.SyncEnd:
        """The batch end; TimeoutError when nothing at all arrived for `retry_interval`.

        A PUBACK means the broker took the request, not that the backend got it: a broker
        that restarted drops what comes before the backend subscribes again. Silence, not
        only a slow batch, is then what gives it away: retry after `retry_interval` of it.
        """
        loop = asyncio.get_running_loop()
        quiet_s = self.options.retry_interval
        self._heard_at = loop.time()
        async with asyncio.timeout(SYNC_TIMEOUT_S):
            while True:
                await asyncio.wait([round_end], timeout=quiet_s)
                if round_end.done():
                    return round_end.result()
                if loop.time() - self._heard_at >= quiet_s:
                    raise TimeoutError("no answer to the sync request")

    async def _receipt_loop(self) -> None:
        while True:
            await self.receipts_due.wait()
            # Let a burst of messages arrive first: one cumulative receipt then covers it.
            await asyncio.sleep(RECEIPT_COALESCE_S)
            self.receipts_due.clear()
            await self.send_receipts()

    async def _hole_watch(self) -> None:
        previous: dict[str, int] = {}
        while True:
            await asyncio.sleep(HOLE_CHECK_S)
            holes = self.state.core.gaps()
            # A hole that outlives a check is not a message still on its way: ask the store.
            if holes and holes == previous and self.state.core.round is None:
                log.info("%s: holes below %s; syncing", self.state.client_id, holes)
                self.sync_wanted.set()
            previous = holes

    async def _outbox_loop(self) -> None:
        outbox = self.state.outbox
        outbox.mark_all_due()
        loop = asyncio.get_running_loop()
        topic = self._topic(ClientTopic.SEND)
        while True:
            self.outbox_due.clear()
            now = loop.time()
            due = outbox.due(now, self.options.retry_interval)
            for pending in due:
                outbox.mark_published(pending.id, now)
            results = await asyncio.gather(
                *(
                    self.mqtt.publish(topic, json.dumps(pending.request).encode(), qos=1)
                    for pending in due
                ),
                return_exceptions=True,
            )
            for pending, result in zip(due, results, strict=True):
                if isinstance(result, BaseException):
                    log.info(
                        "%s: send %s not published (%r)", self.state.client_id, pending.id, result
                    )
            wait = outbox.next_due_in(loop.time(), self.options.retry_interval)
            try:
                async with asyncio.timeout(wait):
                    await self.outbox_due.wait()
            except TimeoutError:
                pass

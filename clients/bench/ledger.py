"""What a load phase sent, what the server acked and what reached whom; and the verdict.

Pure bookkeeping over plain values: the MQTT callbacks report events with the moment
they saw them (monotonic seconds), and `verify` decides whether anything was lost,
duplicated, misrouted or numbered with a gap. QoS 1 may legitimately deliver a message
twice, so a repeat of `(conv, seq)` to its recipient is a redelivery, counted apart
from losses and never counted as a second delivery.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from backend.ids import dm_conv

MessageKey = tuple[str, int]
"""`(conv, seq)`: how the contract names a message."""


@dataclass(slots=True)
class _Sent:
    sender: str
    recipient: str
    at: float


@dataclass(slots=True)
class _Delivery:
    recipient: str
    request_id: str
    at: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """The end-of-phase accounting; `problems` is empty when the server kept its word."""

    sent: int
    acked: int
    refused: int
    unacked: int
    duplicate_acks: int
    delivered: int
    lost: int
    redelivered: int
    misdelivered: int
    unexpected: int
    seq_gaps: int
    seq_reused: int

    @property
    def problems(self) -> list[str]:
        """One line per broken promise; a redelivery is not one."""
        checks = [
            (self.lost, "acked but never delivered"),
            (self.unacked, "sent but never acked"),
            (self.refused, "refused with an error ack"),
            (self.misdelivered, "delivered to the wrong user or with the wrong text"),
            (self.unexpected, "delivered without an ack"),
            (self.seq_gaps, "seq numbers missing inside a conversation"),
            (self.seq_reused, "seq numbers acked for two different sends"),
        ]
        return [f"{count} {what}" for count, what in checks if count]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Ledger:
    """Events of one phase. Every message key is fresh: phases use users of their own."""

    _sent: dict[str, _Sent] = field(default_factory=dict)
    _acks: dict[str, MessageKey] = field(default_factory=dict)
    _acked_ids: dict[MessageKey, str] = field(default_factory=dict)
    _refused: dict[str, str] = field(default_factory=dict)
    _deliveries: dict[MessageKey, _Delivery] = field(default_factory=dict)
    ack_times: list[float] = field(default_factory=list)
    delivery_times: list[float] = field(default_factory=list)
    ack_latencies_ms: list[float] = field(default_factory=list)
    push_latencies_ms: list[float] = field(default_factory=list)
    duplicate_acks: int = 0
    redeliveries: int = 0
    misrouted: int = 0
    seq_reused: int = 0
    matched: int = 0
    """Acked messages whose delivery has been seen (either may come first)."""

    def sent(self, request_id: str, sender: str, recipient: str, at: float) -> None:
        """A send request was handed to the sender's MQTT client."""
        self._sent[request_id] = _Sent(sender, recipient, at)

    def acked(self, user: str, request_id: str, conv: str, seq: int, at: float) -> None:
        """An ack for `request_id` arrived on `user`'s inbox."""
        sent = self._sent.get(request_id)
        if request_id in self._acks:
            self.duplicate_acks += 1
            return
        key = (conv, seq)
        if sent is None or sent.sender != user or conv != dm_conv(sent.sender, sent.recipient):
            self.misrouted += 1
            return
        if key in self._acked_ids:
            self.seq_reused += 1
            return
        self._acks[request_id] = key
        self._acked_ids[key] = request_id
        self.ack_times.append(at)
        self.ack_latencies_ms.append((at - sent.at) * 1000)
        if key in self._deliveries:
            self.matched += 1

    def refused(self, request_id: str, code: str) -> None:
        """An error ack: the server would not store the message."""
        self._refused[request_id] = code

    def delivered(self, recipient: str, conv: str, seq: int, request_id: str, at: float) -> None:
        """A message arrived on `recipient`'s `in/msg`; its text named `request_id`."""
        key = (conv, seq)
        earlier = self._deliveries.get(key)
        if earlier is not None:
            if earlier.recipient == recipient:
                self.redeliveries += 1
            else:
                self.misrouted += 1
            return
        self._deliveries[key] = _Delivery(recipient, request_id, at)
        self.delivery_times.append(at)
        sent = self._sent.get(request_id)
        if sent is not None:
            self.push_latencies_ms.append((at - sent.at) * 1000)
        if key in self._acked_ids:
            self.matched += 1

    @property
    def sent_count(self) -> int:
        return len(self._sent)

    @property
    def answered(self) -> int:
        """Sends that got an ack or a refusal."""
        return len(self._acks) + len(self._refused)

    @property
    def settled(self) -> bool:
        """Every send answered and every acked message delivered: nothing left to wait for."""
        return self.answered >= len(self._sent) and self.matched >= len(self._acks)

    def verify(self) -> Verdict:
        """Judge the phase: call once nothing more is expected to arrive."""
        delivered = lost = misdelivered = 0
        for request_id, key in self._acks.items():
            delivery = self._deliveries.get(key)
            if delivery is None:
                lost += 1
            elif (
                delivery.request_id != request_id
                or delivery.recipient != self._sent[request_id].recipient
            ):
                misdelivered += 1
            else:
                delivered += 1
        unexpected = sum(1 for key in self._deliveries if key not in self._acked_ids)
        return Verdict(
            sent=len(self._sent),
            acked=len(self._acks),
            refused=len(self._refused),
            unacked=len(self._sent) - self.answered,
            duplicate_acks=self.duplicate_acks,
            delivered=delivered,
            lost=lost,
            redelivered=self.redeliveries,
            misdelivered=misdelivered + self.misrouted,
            unexpected=unexpected,
            seq_gaps=seq_gaps(self._acked_ids),
            seq_reused=self.seq_reused,
        )


def seq_gaps(acked: dict[MessageKey, str] | set[MessageKey], first_seq: int = 1) -> int:
    """Seq numbers missing between `first_seq` and each conversation's highest acked one."""
    seqs: dict[str, set[int]] = defaultdict(set)
    for conv, seq in acked:
        seqs[conv].add(seq)
    return sum(max(numbers) - first_seq + 1 - len(numbers) for numbers in seqs.values())

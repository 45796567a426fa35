"""What the HTTP API answers, as typed models (the MQTT payloads are `backend.wire`'s),
and what the SDK's own calls return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from backend import wire


class Conversation(BaseModel):
    """A conversation object: an entry of `GET /v1/conversations`, or a group call's answer.

    `marks` (an extension) is the caller's view of its receipts, as in a sync batch end.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    conv: str
    kind: Literal["dm", "group"]
    name: str | None = None
    members: list[str]
    admins: list[str] = []
    last_seq: int
    marks: wire.ConvMarks | None = None


class MemberReceipt(BaseModel):
    """When one member got (`delivered_ts`) and read (`read_ts`) a message; None: not yet."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    user: str
    delivered_ts: int | None = None
    read_ts: int | None = None


@dataclass(frozen=True, slots=True)
class SentMedia:
    """An image or voice note sent: the send's ack and the uploaded media object."""

    ack: wire.Ack
    media: wire.MediaInfo

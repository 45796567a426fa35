"""The wire payloads of the contract, as pydantic models, with the decoders used at the edge.

Inbound models are strict (a string is not a number, a number is not a string) and
ignore unknown fields, as the contract asks. Every decoder raises `InvalidRequest` or
`TooLarge` with a message a client developer can act on; nothing else escapes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    StringConstraints,
    ValidationError,
    model_validator,
)

from backend.errors import InvalidRequest, TooLarge
from backend.ids import CLIENT_MSG_ID, USER_ID, is_conv_id

# The largest payload a client may publish; the contract's largest field is 64 KiB of text,
# so this leaves room for JSON escaping of all of it (\uXXXX is 6 bytes a character at worst
# for control characters, but real text is far smaller).
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_TEXT_BYTES = 65_536
SYNC_LIMIT_CAP = 1000
# A sync batch also ends (with `more`) once its messages' texts reach about this much: a
# thousand texts of 64 KiB would be 64 MiB held by the server per sync request.
SYNC_BATCH_BYTES = 1024 * 1024

ClientMsgId = Annotated[str, StringConstraints(pattern=f"^{CLIENT_MSG_ID.pattern}$")]
UserId = Annotated[str, StringConstraints(pattern=f"^{USER_ID.pattern}$")]
ConvId = Annotated[str, StringConstraints(max_length=80)]
MessageKind = Literal["text", "image", "voice"]
TypingState = Literal["typing", "recording", "paused"]
PresenceState = Literal["online", "offline"]


class Inbound(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class SendRequest(Inbound):
    id: ClientMsgId
    to: UserId | None = None
    conv: ConvId | None = None
    kind: MessageKind = "text"
    text: str | None = None
    media: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> SendRequest:
        if (self.to is None) == (self.conv is None):
            raise ValueError("exactly one of 'to' and 'conv' is required")
        if self.conv is not None and not is_conv_id(self.conv):
            raise ValueError("'conv' is not a conversation id")
        if self.kind == "text":
            if not self.text:
                raise ValueError("a text message needs a non-empty 'text'")
            if self.media is not None:
                raise ValueError("a text message carries no 'media'")
        elif self.media is None:
            raise ValueError(f"a {self.kind} message needs 'media'")
        return self


class ReceiptRequest(Inbound):
    conv: ConvId
    delivered: Annotated[int, Field(ge=0)] | None = None
    read: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> ReceiptRequest:
        if self.delivered is None and self.read is None:
            raise ValueError("one of 'delivered' and 'read' is required")
        return self


class TypingRequest(Inbound):
    conv: ConvId
    state: TypingState


class SyncRequest(Inbound):
    id: ClientMsgId
    since: dict[ConvId, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    limit: Annotated[int, Field(ge=1)] = SYNC_LIMIT_CAP


class PresenceRequest(Inbound):
    state: PresenceState


class Outbound(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class ErrorBody(Outbound):
    code: str
    message: str


class RetryLaterBody(ErrorBody):
    """Extension: a `rate_limited` error also says when a retry may succeed."""

    retry_after_ms: int


class Ack(Outbound):
    id: str
    conv: str
    seq: int
    ts: int


class AckError(Outbound):
    id: str | None
    error: SerializeAsAny[ErrorBody]  # a RetryLaterBody keeps its extra field


class ErrorNotice(Outbound):
    """What `in/error` carries: the request's topic, its id if it had one, and the error."""

    topic: str
    id: str | None = None
    error: SerializeAsAny[ErrorBody]  # a RetryLaterBody keeps its extra field


class MediaInfo(Outbound):
    id: str
    mime: str
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    thumb: str | None = None


class GroupEvent(Outbound):
    type: Literal[
        "created",
        "member_added",
        "member_removed",
        "member_left",
        "admin_added",
        "admin_removed",
        "renamed",
    ]
    users: list[str] = Field(default_factory=list)
    name: str | None = None


class Message(Outbound):
    conv: str
    seq: int
    sender: str = Field(alias="from")
    ts: int
    kind: Literal["text", "image", "voice", "event"]
    text: str | None = None
    media: MediaInfo | None = None
    event: GroupEvent | None = None

    def to_wire(self) -> dict[str, Any]:
        """The contract's dict: `media` and `event` appear only on messages that have them."""
        wire = self.model_dump(by_alias=True)
        for optional in ("media", "event"):
            if wire[optional] is None:
                del wire[optional]
        return wire

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_wire(), separators=(",", ":")).encode()


class ReceiptEvent(Outbound):
    conv: str
    by: str
    status: Literal["delivered", "read"]
    seq: int
    ts: int
    all_delivered: int
    all_read: int


class TypingEvent(Outbound):
    conv: str
    sender: str = Field(alias="from")
    state: TypingState
    ts: int


class ConvMarks(Outbound):
    last_seq: int
    all_delivered: int
    all_read: int
    delivered: int
    read: int
    # Extension: where the user's next sync starts. Below `delivered` when the user's own
    # messages jumped the mark over someone else's that it has not confirmed yet.
    confirmed: int | None = None


class SyncEnd(Outbound):
    id: str
    more: bool
    convs: dict[str, ConvMarks]


class Presence(Outbound):
    state: PresenceState
    last_seen: int | None
    ts: int


class ConnectionEvent(Inbound):
    """The embedded broker's report on `_mqchat/connections`: one connection opened or
    closed, or (`snapshot`) every open connection, sent when the backend subscribes."""

    event: Literal["connected", "disconnected", "snapshot"]
    client_id: str | None = None
    client_ids: list[str] = Field(default_factory=list)
    ts: int


InboundT = TypeVar("InboundT", bound=Inbound)


def decode(model: type[InboundT], payload: bytes) -> InboundT:
    """Parse and validate one inbound payload, raising the contract's errors."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise TooLarge(f"payload is {len(payload)} bytes, the limit is {MAX_PAYLOAD_BYTES}")
    try:
        document = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"payload is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"payload is not JSON: {exc.msg} at {exc.pos}") from None
    except RecursionError:
        raise InvalidRequest("payload is nested too deeply") from None
    except ValueError:  # an integer of more digits than Python converts (4,300)
        raise InvalidRequest("payload has a number too long to read") from None
    if not isinstance(document, dict):
        raise InvalidRequest("payload must be a JSON object")
    _reject_lone_surrogates(document)
    try:
        request = model.model_validate(document)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc)) from None
    if isinstance(request, SendRequest):
        check_text_size(request.text)
    return request


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not.
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def _reject_lone_surrogates(document: dict[str, Any]) -> None:
    """JSON may escape half of a UTF-16 pair (`"\\ud800"`); such a string is no Unicode text,
    cannot be stored or sent on as UTF-8, and is refused wherever it is, keys included."""
    pending: list[Any] = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise InvalidRequest("payload has a lone UTF-16 surrogate escape") from None


def check_text_size(text: str | None) -> None:
    if text is not None and len(text.encode()) > MAX_TEXT_BYTES:
        raise TooLarge(f"text is over {MAX_TEXT_BYTES} bytes")


def request_id(payload: bytes) -> str | None:
    """The `id` of a request that failed to decode, when one can still be read from it.

    It lets an error ack name the request it answers even when the rest is invalid.
    """
    try:
        # Numbers do not matter here: reading none of them, a digit bomb cannot hide the id.
        document = json.loads(payload, parse_int=lambda _: 0)
    except (ValueError, RecursionError):
        return None
    if isinstance(document, dict):
        candidate = document.get("id")
        if isinstance(candidate, str) and CLIENT_MSG_ID.fullmatch(candidate):
            return candidate
    return None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the field: what a client developer needs to fix it."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "payload"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)

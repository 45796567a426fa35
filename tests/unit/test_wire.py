import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import wire
from backend.errors import ChatError, InvalidRequest, TooLarge
from backend.ids import CLIENT_MSG_ID
from tests.support.hostile import VALID_REQUESTS, hostile_requests

INBOUND = [
    wire.SendRequest,
    wire.ReceiptRequest,
    wire.TypingRequest,
    wire.SyncRequest,
    wire.PresenceRequest,
]


def decode_send(document: object) -> wire.SendRequest:
    return wire.decode(wire.SendRequest, json.dumps(document).encode())


def test_a_text_send_with_unknown_fields() -> None:
    request = decode_send({"id": "m1", "to": "bob", "text": "hi", "future": [1, 2]})
    assert (request.id, request.to, request.conv, request.kind, request.text) == (
        "m1",
        "bob",
        None,
        "text",
        "hi",
    )


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"to": "bob", "text": "hi"}, "id"),
        ({"id": "bad id!", "to": "bob", "text": "hi"}, "id"),
        ({"id": "m", "text": "hi"}, "exactly one"),
        ({"id": "m", "to": "bob", "conv": "dm:alice:bob", "text": "hi"}, "exactly one"),
        ({"id": "m", "conv": "nope", "text": "hi"}, "conversation id"),
        ({"id": "m", "to": "Bob", "text": "hi"}, "to"),
        ({"id": "m", "to": "bob", "text": ""}, "non-empty"),
        ({"id": "m", "to": "bob"}, "non-empty"),
        ({"id": "m", "to": "bob", "text": 5}, "text"),
        ({"id": 5, "to": "bob", "text": "hi"}, "id"),
        ({"id": "m", "to": "bob", "kind": "sticker", "text": "hi"}, "kind"),
        ({"id": "m", "to": "bob", "kind": "image"}, "media"),
        ({"id": "m", "to": "bob", "text": "hi", "media": "x"}, "media"),
    ],
)
def test_invalid_sends_name_the_problem(document: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidRequest, match=fragment):
        decode_send(document)


def test_text_over_64_kib_is_too_large() -> None:
    decode_send({"id": "m", "to": "bob", "text": "x" * wire.MAX_TEXT_BYTES})
    with pytest.raises(TooLarge):
        decode_send({"id": "m", "to": "bob", "text": "é" * (wire.MAX_TEXT_BYTES // 2 + 1)})


def test_oversized_payload_is_too_large_before_parsing() -> None:
    with pytest.raises(TooLarge):
        wire.decode(wire.SendRequest, b" " * (wire.MAX_PAYLOAD_BYTES + 1))


@pytest.mark.parametrize(
    "payload", [b"", b"{", b"[]", b"42", b"\xff\xfe", b'{"id": "m"', b"null", b'{"id": NaN}']
)
def test_malformed_payloads_are_invalid(payload: bytes) -> None:
    with pytest.raises(InvalidRequest):
        wire.decode(wire.SendRequest, payload)


def test_deeply_nested_json_is_invalid_not_a_crash() -> None:
    with pytest.raises(InvalidRequest):
        wire.decode(wire.SendRequest, b"[" * 100_000 + b"]" * 100_000)


def test_receipts_need_a_mark_and_reject_wrong_types() -> None:
    assert wire.decode(wire.ReceiptRequest, b'{"conv": "dm:a:b", "read": 4}').read == 4
    for bad in [
        b'{"conv": "dm:a:b"}',
        b'{"conv": "dm:a:b", "read": "4"}',
        b'{"conv": "dm:a:b", "read": -1}',
        b'{"conv": "dm:a:b", "read": true}',
        b'{"conv": "dm:a:b", "read": 1.5}',
    ]:
        with pytest.raises(InvalidRequest):
            wire.decode(wire.ReceiptRequest, bad)


def test_sync_defaults() -> None:
    request = wire.decode(wire.SyncRequest, b'{"id": "s1"}')
    assert (request.since, request.limit) == ({}, wire.SYNC_LIMIT_CAP)
    with pytest.raises(InvalidRequest):
        wire.decode(wire.SyncRequest, b'{"id": "s1", "limit": 0}')


def test_request_id_is_recovered_from_invalid_requests() -> None:
    assert wire.request_id(b'{"id": "m1", "to": 5}') == "m1"
    assert wire.request_id(b'{"id": "bad id"}') is None
    assert wire.request_id(b"\xff") is None


def test_messages_leave_out_media_and_event_when_absent() -> None:
    message = wire.Message(conv="dm:a:b", seq=1, sender="a", ts=5, kind="text", text="hi")
    assert json.loads(message.to_bytes()) == {
        "conv": "dm:a:b",
        "seq": 1,
        "from": "a",
        "ts": 5,
        "kind": "text",
        "text": "hi",
    }


@pytest.mark.parametrize("model", INBOUND)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.binary(max_size=512))
def test_arbitrary_bytes_only_ever_raise_contract_errors(
    model: type[wire.Inbound], payload: bytes
) -> None:
    try:
        wire.decode(model, payload)
    except ChatError as error:
        assert error.code in {"invalid", "too_large"}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.mark.parametrize("model", INBOUND)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    document=st.dictionaries(
        st.sampled_from(
            [
                "id",
                "to",
                "conv",
                "kind",
                "text",
                "media",
                "read",
                "delivered",
                "state",
                "since",
                "limit",
            ]
        ),
        JSON,
    )
)
def test_arbitrary_json_objects_only_ever_raise_contract_errors(
    model: type[wire.Inbound], document: dict[str, object]
) -> None:
    try:
        wire.decode(model, json.dumps(document).encode())
    except ChatError as error:
        assert error.code in {"invalid", "too_large"}


@pytest.mark.parametrize("model", [*INBOUND, wire.ConnectionEvent])
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_payloads_only_ever_raise_contract_errors_that_fit_a_payload(
    model: type[wire.Inbound], data: st.DataObject
) -> None:
    """Near misses of valid requests, surrogates, huge numbers, junk: a contract error or a
    request, and the error's message can always be sent back (it is UTF-8 text)."""
    kind = data.draw(st.sampled_from(sorted(VALID_REQUESTS)))
    payload = data.draw(hostile_requests(kind))
    try:
        wire.decode(model, payload)
    except ChatError as error:
        assert error.code in {"invalid", "too_large"}
        wire.ErrorBody(code=error.code, message=error.message).to_bytes()
    found = wire.request_id(payload)  # never raises either
    assert found is None or CLIENT_MSG_ID.fullmatch(found)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"id": "m1", "to": "bob", "text": "\\ud800"}',
        b'{"id": "m1", "to": "bob", "text": "ok", "extra": ["\\udfff"]}',
        b'{"id": "m1", "to": "bob", "text": "ok", "\\udc00": 1}',
        b'{"id": "m1", "to": "bob", "text": 1' + b"0" * 5000 + b"}",
    ],
)
def test_lone_surrogates_and_digit_bombs_are_invalid_and_keep_the_id(payload: bytes) -> None:
    with pytest.raises(InvalidRequest):
        wire.decode(wire.SendRequest, payload)
    assert wire.request_id(payload) == "m1"


def test_an_escaped_surrogate_pair_is_ordinary_text() -> None:
    request = wire.decode(wire.SendRequest, b'{"id": "m1", "to": "bob", "text": "\\ud83d\\ude00"}')
    assert request.text == "\U0001f600"

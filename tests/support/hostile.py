"""Hypothesis strategies for hostile request payloads: what a broken or malicious client sends.

Used by the decoder and gateway property tests and by the end-to-end junk-publication
test. The payloads are bytes, as they arrive from MQTT: valid-looking objects with wrong
types, numbers past any integer column, digit bombs, lone surrogates (escaped, or encoded
into bytes that are not UTF-8), deep nesting, JSON's forbidden constants, plain garbage.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

# Every field any request of the contract has, so that objects look almost right.
REQUEST_FIELDS = [
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

# Values a real request could carry; the test's users and conversations are among them.
PLAUSIBLE_STRINGS = [
    "m1",
    "bob",
    "alice",
    "zed",
    "dm:alice:bob",
    "dm:bob:alice",
    "dm:alice:zed",
    "g:AAAAAAAAAAAAAAAAAAAAAA",
    "text",
    "image",
    "voice",
    "typing",
    "paused",
    "online",
    "offline",
    "A" * 22,
    "",
]

BIG_INTEGERS = st.sampled_from(
    [
        2**31,
        2**63 - 1,
        2**63,
        2**64,
        -(2**63) - 1,
        10**30,
        -(10**30),
        int("9" * 4000),  # near Python's 4,300-digit limit for int <-> str
    ]
) | st.integers(min_value=2**62, max_value=2**70)

SURROGATES = st.characters(categories=["Cs"])
NASTY_TEXT = st.text(alphabet=st.characters() | SURROGATES, max_size=24)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | BIG_INTEGERS
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(PLAUSIBLE_STRINGS)
    | NASTY_TEXT
)

JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(PLAUSIBLE_STRINGS) | NASTY_TEXT, children, max_size=4)
    ),
    max_leaves=16,
)

REQUEST_OBJECTS = st.dictionaries(
    st.sampled_from(REQUEST_FIELDS) | NASTY_TEXT, JSON_VALUES, max_size=8
)


def encode(document: object, *, raw_surrogates: bool) -> bytes:
    """JSON bytes; lone surrogates as `\\udXXX` escapes, or (raw) as bytes that are not UTF-8."""
    if raw_surrogates:
        return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(document).encode()


# Hand-made texts that json.dumps never produces.
HANDMADE = st.sampled_from(
    [
        b"",
        b"null",
        b"[]",
        b'"id"',
        b"{",
        b'{"id": NaN, "to": Infinity}',
        b'{"id": "m1", "to": "bob", "text": "hi", "id": 5}',  # a duplicate key
        b'{"id": "m1", "to": "bob", "text": "\xff\xfe"}',  # not UTF-8 inside a string
        b'{"id": "m1", "to": "bob", "text": "\\ud800"}',
        b'{"conv": "dm:alice:bob", "read": 1' + b"0" * 5000 + b"}",  # a digit bomb
        b'{"id": "s1", "limit": 1e999}',
        b'{"id": "s1", "since": {"dm:alice:bob": -0}}',
        b"\xef\xbb\xbf{}",  # a byte-order mark
        b"[" * 50_000 + b"]" * 50_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    ]
)

# A valid request of each kind (the users and conversations of the tests that use them);
# `near_misses` breaks one or a few of their fields.
VALID_REQUESTS: dict[str, list[dict[str, object]]] = {
    "send": [
        {"id": "m1", "to": "bob", "text": "hi"},
        {"id": "m2", "conv": "dm:alice:bob", "kind": "text", "text": "hi"},
        {"id": "m3", "conv": "g:AAAAAAAAAAAAAAAAAAAAAA", "kind": "image", "media": "A" * 22},
    ],
    "receipt": [
        {"conv": "dm:alice:bob", "read": 1},
        {"conv": "g:AAAAAAAAAAAAAAAAAAAAAA", "delivered": 1, "read": 1},
    ],
    "typing": [{"conv": "dm:alice:bob", "state": "typing"}],
    "sync": [{"id": "s1", "since": {"dm:alice:bob": 0}, "limit": 10}, {"id": "s2"}],
    "presence": [{"state": "online"}, {"state": "offline"}],
}
_DROP = object()


@st.composite
def near_misses(draw: st.DrawFn, kind: str) -> bytes:
    """A valid request of `kind` with one to three fields replaced, dropped or added."""
    document = dict(draw(st.sampled_from(VALID_REQUESTS[kind])))
    if "id" in document:  # a fresh id, or a retry of an earlier one
        document["id"] = draw(
            st.sampled_from(["m1", "s1"]) | st.from_regex(r"[a-z]{1,8}", fullmatch=True)
        )
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        field = draw(
            st.sampled_from(sorted(document) or REQUEST_FIELDS) | st.sampled_from(REQUEST_FIELDS)
        )
        value = draw(st.just(_DROP) | SCALARS | JSON_VALUES)
        if value is _DROP:
            document.pop(field, None)
        else:
            document[field] = value
    return encode(document, raw_surrogates=draw(st.booleans()))


PAYLOADS = (
    st.binary(max_size=300)
    | HANDMADE
    | st.builds(encode, REQUEST_OBJECTS, raw_surrogates=st.booleans())
    | st.builds(encode, JSON_VALUES, raw_surrogates=st.booleans())
)
"""Any payload a client might publish, for any request kind: garbage and broken JSON."""


def hostile_requests(kind: str) -> st.SearchStrategy[bytes]:
    """Payloads for a request of `kind`: mostly near misses of a valid one, the rest junk."""
    return near_misses(kind) | near_misses(kind) | PAYLOADS

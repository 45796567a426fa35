"""Range, If-None-Match and If-Range rules."""

from __future__ import annotations

import pytest

from backend.http.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    none_match,
    parse_range,
    range_applies,
)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, ByteRange(0, 9)),
        ("bytes=0-0", 100, ByteRange(0, 0)),
        ("bytes=10-", 100, ByteRange(10, 99)),
        ("bytes=99-", 100, ByteRange(99, 99)),
        ("bytes=-5", 100, ByteRange(95, 99)),
        ("bytes=-500", 100, ByteRange(0, 99)),  # a suffix longer than the file: all of it
        ("bytes=90-500", 100, ByteRange(90, 99)),  # the end is clamped
        ("Bytes=1-2", 100, ByteRange(1, 2)),  # the unit is case-insensitive
        ("bytes= 3 - 4 ", 100, ByteRange(3, 4)),
    ],
)
def test_single_ranges(header: str, size: int, expected: ByteRange) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-6",  # several ranges: served whole rather than as multipart
        "items=0-9",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=5-2",  # last before first: invalid, so ignored
        "bytes=--1",
        "bytes=1-2-3",
        "0-9",
        "bytes=" + "9" * 30 + "-",  # absurd numbers are malformed, not a crash
    ],
)
def test_ignored_headers_mean_the_whole_file(header: str) -> None:
    assert parse_range(header, 100) is None


def test_no_header_means_the_whole_file() -> None:
    assert parse_range(None, 100) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=-0", 100),
        ("bytes=0-", 0),
        ("bytes=-1", 0),
    ],
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_content_range_and_length() -> None:
    selected = ByteRange(10, 19)
    assert (selected.length, selected.content_range(100)) == (10, "bytes 10-19/100")


ETAG = '"abc123"'


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ('"abc123"', True),
        ('W/"abc123"', True),  # If-None-Match compares weakly
        ('"other", "abc123"', True),
        ("*", True),
        ('"other"', False),
        ("abc123", False),  # unquoted is another tag
        ("", False),
    ],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert none_match(header, ETAG) is matches


@pytest.mark.parametrize(
    ("header", "applies"),
    [
        (None, True),
        ('"abc123"', True),
        ('W/"abc123"', False),  # If-Range compares strongly
        ('"other"', False),
        ("Wed, 21 Oct 2015 07:28:00 GMT", False),  # no Last-Modified is ever sent
    ],
)
def test_if_range(header: str | None, applies: bool) -> None:
    assert range_applies(header, ETAG) is applies

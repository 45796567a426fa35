"""HTTP range and conditional request rules (RFC 9110), as pure functions.

Only single byte ranges are served. A Range header that is malformed, uses another
unit or asks for several ranges is ignored, as the RFC allows: the whole file is
sent with 200. A well-formed range that starts past the end is unsatisfiable (416).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Twenty digits is past any file size; longer numbers are refused before int() sees them.
_RANGE = re.compile(r"bytes=[ \t]*(\d{0,20})[ \t]*-[ \t]*(\d{0,20})[ \t]*", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    """A byte range that selects nothing of the file: answered with 416."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range `header` selects of a `size`-byte file; None to send the whole file.

    Raises `RangeNotSatisfiable` for a well-formed range that selects nothing.
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None  # another unit, several ranges, or malformed: ignored
    first, last = match.groups()
    if not first:
        if not last:
            return None  # "bytes=-": malformed
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"the last {suffix} bytes of {size}")
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # "bytes=5-2" is invalid, not unsatisfiable
    if start >= size:
        raise RangeNotSatisfiable(f"byte {start} is past the end ({size} bytes)")
    return ByteRange(start, min(end, size - 1))


def _entity_tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` matches `etag` (weak comparison): then 304 Not Modified."""
    if if_none_match is None:
        return False
    tags = _entity_tags(if_none_match)
    return "*" in tags or any(_opaque(tag) == _opaque(etag) for tag in tags)


def range_applies(if_range: str | None, etag: str) -> bool:
    """Whether a Range header is honoured given `If-Range` (strong comparison).

    A date in If-Range never matches: no Last-Modified is sent, so a client has none.
    """
    if if_range is None:
        return True
    tag = if_range.strip()
    return not tag.startswith("W/") and tag == etag

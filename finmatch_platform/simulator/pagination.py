"""Keyset pagination over a change feed, with signed opaque cursors.

A position in the feed is ``(updated_at in microseconds since the epoch, record_id)``: the order in
which changes happened, with the record id breaking ties. A cursor is that position, signed with
HMAC-SHA256 so a client cannot forge one (and so never sees an error deep in the server for a
cursor it made up): ``base64url(payload) "." base64url(mac)``.

Pure Python: no web framework, no Dagster. The FPR API and its tests use it directly.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
from bisect import bisect_right
from collections.abc import Sequence
from typing import NamedTuple

PAGE_SIZE_MIN = 1
PAGE_SIZE_MAX = 200
PAGE_SIZE_DEFAULT = 100
# What a client is told when page_size is out of range (the FPR API's 400).
PAGE_SIZE_RULE = f"page_size must be an integer between {PAGE_SIZE_MIN} and {PAGE_SIZE_MAX}"

_VERSION = "1"
# 128 bits of MAC are plenty against forgery and keep the cursor short in URLs and checkpoints.
_MAC_BYTES = 16
_MAC_CHARS = 22  # len(base64url(16 bytes)) without padding
# A record id of a few dozen characters gives a cursor well under this; anything longer is junk
# and is rejected before any decoding work.
MAX_CURSOR_LENGTH = 512
_CURSOR_SHAPE = re.compile(
    rf"\A[A-Za-z0-9_-]{{1,{MAX_CURSOR_LENGTH - 1 - _MAC_CHARS}}}\.[A-Za-z0-9_-]{{{_MAC_CHARS}}}\Z"
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Position(NamedTuple):
    """A point in the feed; compares as a tuple, so it can be bisected against a sorted key list."""

    updated_at_us: int
    record_id: str


# Before every real change: where a sync without a cursor starts.
START = Position(-(2**63), "")


class InvalidCursor(ValueError):
    """A cursor that is malformed, tampered with, or signed with another secret."""


class PageSlice(NamedTuple):
    """Which keys one page serves: ``keys[start:stop]``."""

    start: int
    stop: int
    next_position: Position  # after the last key served; the requested position if none was
    has_more: bool


def derive_cursor_secret(api_key: str) -> bytes:
    """The signing secret to use when no dedicated one is configured.

    Derived rather than the key itself, so a leaked cursor MAC says nothing usable about the key.
    Rotating the API key therefore invalidates outstanding cursors, which is why a dedicated
    secret (FINMATCH_CURSOR_SECRET) is preferred in production.
    """
    return hmac.new(api_key.encode("utf-8"), b"finmatch-fpr-cursor-v1", hashlib.sha256).digest()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(position: Position, secret: bytes) -> str:
    payload = f"{_VERSION}:{position.updated_at_us}:{position.record_id}".encode()
    return f"{_b64encode(payload)}.{_b64encode(_mac(secret, payload))}"


def decode_cursor(token: str, secret: bytes) -> Position:
    """The position a cursor stands for; raises InvalidCursor with a reason a client can act on."""
    if not _CURSOR_SHAPE.match(token):
        raise InvalidCursor("cursor is malformed: pass back a next_cursor exactly as the API returned it")
    body, mac_text = token.split(".")
    try:
        payload = _b64decode(body)
        mac = _b64decode(mac_text)
    except (binascii.Error, ValueError):
        raise InvalidCursor("cursor is malformed: it is not valid base64url") from None
    # Verify before parsing: nothing the client wrote reaches the parser unless we signed it.
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidCursor("cursor signature does not match: it was altered or issued by another server")
    try:
        version, micros, record_id = payload.decode("utf-8").split(":", 2)
        position = Position(int(micros), record_id)
    except (UnicodeDecodeError, ValueError):
        raise InvalidCursor("cursor payload is malformed") from None
    if version != _VERSION:
        raise InvalidCursor(f"cursor version {version!r} is not supported")
    return position


def select_page(keys: Sequence[tuple[int, str]], after: Position, page_size: int) -> PageSlice:
    """The next page of a sorted key list strictly after ``after`` (keyset, O(log n))."""
    if not PAGE_SIZE_MIN <= page_size <= PAGE_SIZE_MAX:
        raise ValueError(f"page_size must be between {PAGE_SIZE_MIN} and {PAGE_SIZE_MAX}")
    start = bisect_right(keys, after)
    stop = min(start + page_size, len(keys))
    next_position = Position(*keys[stop - 1]) if stop > start else after
    return PageSlice(start, stop, next_position, stop < len(keys))


def count_after(keys: Sequence[tuple[int, str]], after: Position) -> int:
    return len(keys) - bisect_right(keys, after)


def micros_to_iso(updated_at_us: int) -> str:
    """ISO-8601 UTC with microseconds, e.g. ``2026-10-01T09:30:00.000000Z``."""
    moment = _EPOCH + dt.timedelta(microseconds=updated_at_us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def high_water_mark(position: Position) -> str:
    """A readable, stable label for the latest change: ``<updated_at ISO>/<record_id>``."""
    return f"{micros_to_iso(position.updated_at_us)}/{position.record_id}"

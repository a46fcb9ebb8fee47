"""Keyset pagination and signed cursors, tested as pure functions."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finmatch_platform.simulator.pagination import (
    MAX_CURSOR_LENGTH,
    START,
    InvalidCursor,
    Position,
    count_after,
    decode_cursor,
    derive_cursor_secret,
    encode_cursor,
    high_water_mark,
    micros_to_iso,
    select_page,
)

SECRET = derive_cursor_secret("unit-test-key")
positions = st.builds(Position, st.integers(min_value=-(2**62), max_value=2**62), st.text(max_size=40))
key_lists = st.lists(
    st.tuples(st.integers(0, 50), st.sampled_from(["FPR01", "FPR02", "FPR03", "FPR10", "FPR11"])), unique=True
).map(sorted)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@given(position=positions)
def test_a_cursor_decodes_to_the_position_it_was_made_from(position: Position) -> None:
    assert decode_cursor(encode_cursor(position, SECRET), SECRET) == position


def test_the_start_cursor_and_ids_with_colons_round_trip() -> None:
    for position in (START, Position(1_790_847_000_000_000, "FPR:0001:x"), Position(0, "")):
        assert decode_cursor(encode_cursor(position, SECRET), SECRET) == position


def test_a_cursor_is_opaque_url_safe_and_deterministic() -> None:
    cursor = encode_cursor(Position(1_790_847_000_000_000, "FPR0000000001"), SECRET)
    assert cursor == encode_cursor(Position(1_790_847_000_000_000, "FPR0000000001"), SECRET)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert "FPR0000000001" not in cursor


def test_a_cursor_signed_with_another_secret_is_rejected() -> None:
    cursor = encode_cursor(Position(5, "FPR1"), derive_cursor_secret("another-key"))
    with pytest.raises(InvalidCursor, match="signature does not match"):
        decode_cursor(cursor, SECRET)


def test_an_altered_payload_or_signature_is_rejected() -> None:
    body, mac = encode_cursor(Position(5, "FPR1"), SECRET).split(".")
    forged_body = _b64(b"1:6:FPR1")
    flipped_mac = ("B" if mac[0] == "A" else "A") + mac[1:]
    for token in (f"{forged_body}.{mac}", f"{body}.{flipped_mac}"):
        with pytest.raises(InvalidCursor, match="signature does not match"):
            decode_cursor(token, SECRET)


def test_a_correctly_signed_cursor_of_an_unknown_version_or_shape_is_rejected() -> None:
    from finmatch_platform.simulator.pagination import _mac  # signing arbitrary payloads needs the internal

    for payload, reason in (
        (b"2:5:FPR1", "version"),
        (b"1:five:FPR1", "payload"),
        (b"1", "payload"),
        (b"\xff\xfe:1:x", "payload"),
    ):
        token = f"{_b64(payload)}.{_b64(_mac(SECRET, payload))}"
        with pytest.raises(InvalidCursor, match=reason):
            decode_cursor(token, SECRET)


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "abc",
        "abc.def",
        "a" * 30,
        "é" * 10 + "." + "A" * 22,
        "ab!d." + "A" * 22,
        "A" * (MAX_CURSOR_LENGTH + 1),
    ],
)
def test_malformed_cursors_are_rejected_with_a_reason(token: str) -> None:
    with pytest.raises(InvalidCursor, match="malformed"):
        decode_cursor(token, SECRET)


@settings(max_examples=300)
@given(token=st.text(max_size=120) | st.from_regex(r"\A[A-Za-z0-9_-]{4,60}\.[A-Za-z0-9_-]{22}\Z"))
def test_decoding_any_text_raises_nothing_but_invalid_cursor(token: str) -> None:
    with contextlib.suppress(InvalidCursor):
        decode_cursor(token, SECRET)


def test_the_derived_secret_is_stable_per_key_and_is_not_the_key() -> None:
    assert derive_cursor_secret("k1") == derive_cursor_secret("k1")
    assert derive_cursor_secret("k1") != derive_cursor_secret("k2")
    assert b"k1" not in derive_cursor_secret("k1") and len(derive_cursor_secret("k1")) == 32


KEYS = [(10, "FPR1"), (10, "FPR2"), (10, "FPR3"), (20, "FPR0"), (30, "FPR4")]


def test_the_first_page_starts_at_the_beginning_and_says_more_is_coming() -> None:
    page = select_page(KEYS, START, 2)
    assert (page.start, page.stop, page.has_more) == (0, 2, True)
    assert page.next_position == Position(10, "FPR2")


def test_a_page_continues_strictly_after_the_cursor_even_inside_a_tie() -> None:
    page = select_page(KEYS, Position(10, "FPR2"), 2)
    assert KEYS[page.start : page.stop] == [(10, "FPR3"), (20, "FPR0")]


def test_the_last_page_says_there_is_no_more() -> None:
    page = select_page(KEYS, Position(10, "FPR3"), 5)
    assert (page.start, page.stop, page.has_more) == (3, 5, False)
    assert page.next_position == Position(30, "FPR4")


def test_an_empty_page_keeps_the_requested_position() -> None:
    page = select_page(KEYS, Position(30, "FPR4"), 10)
    assert page.start == page.stop and not page.has_more
    assert page.next_position == Position(30, "FPR4")
    assert select_page([], START, 10).next_position == START


def test_a_position_no_longer_in_the_feed_still_resumes_in_order() -> None:
    # The record at the cursor changed since and moved to the end: its old position is gone.
    page = select_page([k for k in KEYS if k != (20, "FPR0")], Position(20, "FPR0"), 10)
    assert page.start == 3


@pytest.mark.parametrize("page_size", [0, -1, 201])
def test_a_page_size_outside_1_to_200_is_refused(page_size: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 200"):
        select_page(KEYS, START, page_size)


@given(keys=key_lists, page_size=st.integers(1, 200))
def test_paging_visits_every_key_once_in_order_for_any_page_size(keys: list[tuple[int, str]], page_size: int) -> None:
    visited: list[tuple[int, str]] = []
    position = START
    while True:
        page = select_page(keys, position, page_size)
        assert page.stop - page.start <= page_size
        visited += keys[page.start : page.stop]
        position = page.next_position
        if not page.has_more:
            break
    assert visited == keys


@given(keys=key_lists, after=st.tuples(st.integers(-1, 51), st.sampled_from(["", "FPR02", "FPR99"])))
def test_count_after_matches_what_paging_would_return(keys: list[tuple[int, str]], after: tuple[int, str]) -> None:
    position = Position(*after)
    assert count_after(keys, position) == len([k for k in keys if k > position])


def test_timestamps_render_as_iso_utc_with_microseconds() -> None:
    assert micros_to_iso(1_790_847_000_000_000) == "2026-10-01T09:30:00.000000Z"
    assert micros_to_iso(1_790_847_000_000_123) == "2026-10-01T09:30:00.000123Z"
    assert high_water_mark(Position(1_790_847_000_000_000, "FPR7")) == "2026-10-01T09:30:00.000000Z/FPR7"

"""The journal reads a lease key the way QMTL's SeamlessDataProvider._backfill_key writes it
(node_id:interval:start:end:world:requested_as_of): node ids have colons of their own (blake3:<hex>, where the
hex may be all digits) and an as-of may have several, so the parse must recover every part whatever they hold."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st
from seamless_coordinator.journal import KeyParts, parse_key

HEX = st.text(string.hexdigits.lower()[:16], min_size=1, max_size=64)
NODE_IDS = st.one_of(
    HEX.map(lambda h: f"blake3:{h}"),
    st.text(string.digits, min_size=1, max_size=12).map(lambda d: f"blake3:{d}"),  # all digits: once failed CI
)
WORLDS = st.text(string.ascii_lowercase + string.digits + "-_", max_size=20)
AS_OF = st.one_of(
    st.just(""),
    st.datetimes().map(lambda t: t.isoformat() + "Z"),
    st.integers(0, 2**40).map(str),
)
BOUND = 2**62


@given(NODE_IDS, st.integers(1, 86_400), st.integers(-BOUND, BOUND), st.integers(1, BOUND), WORLDS, AS_OF)
def test_every_part_of_a_qmtl_key_is_recovered(node_id, interval, start, length, world, as_of) -> None:
    end = start + length
    key = f"{node_id}:{interval}:{start}:{end}:{world}:{as_of}"
    assert parse_key(key) == KeyParts(node_id, interval, start, end, world, as_of)


def test_a_key_without_a_valid_range_has_no_parts() -> None:
    assert parse_key("blake3:ab:60:100:100:w:") is None  # empty range
    assert parse_key("blake3:ab:60:200:100:w:") is None  # reversed
    assert parse_key(f"blake3:ab:60:0:{2**63}:w:") is None  # beyond QuestDB's LONG
    assert parse_key("a lease key of another shape") is None

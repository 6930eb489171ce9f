"""Share: one count over another, None while the other is zero."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from stratloop._share import Share


@dataclass(frozen=True, slots=True)
class _Counts:
    hits: int
    misses: int
    total: int

    hit_rate = Share("hits", "total", "Hits of all.")
    seen_rate = Share(("hits", "misses"), "total", "Hits and misses of all.")


class TestShare:
    def test_none_before_the_first_case(self) -> None:
        """An empty denominator gives None, not zero and not an error."""
        assert _Counts(0, 0, 0).hit_rate is None

    @given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**6))
    def test_parts_are_added_then_divided(self, hits: int, misses: int, total: int) -> None:
        """The share of several parts is their sum over the whole, as a float."""
        counts = _Counts(hits, misses, total)
        assert counts.hit_rate == hits / total
        assert counts.seen_rate == (hits + misses) / total
        assert isinstance(counts.seen_rate, float)

    def test_the_class_attribute_documents_the_share(self) -> None:
        """Read on the class, the attribute is the descriptor with its docstring."""
        assert isinstance(_Counts.hit_rate, Share)
        assert _Counts.hit_rate.__doc__ == "Hits of all."

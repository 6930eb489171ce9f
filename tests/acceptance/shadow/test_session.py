from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratloop.acceptance.shadow import daily_seed, rollout_iterations, run_session
from stratloop.generation.testing import config_with, drawing_source

LLM = drawing_source("llm")
FG = drawing_source("factor_graph")


class _Clock:
    """A clock that advances one second per reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class TestRunSession:
    def test_runs_every_given_iteration_and_compares_them(self):
        """A finite range runs to its end; both sides' records compare as equivalent."""
        session = run_session(config_with(None, 50.0), LLM, FG, range(12))
        assert session.observed == tuple(range(12))
        assert session.stopped_by == "iterations"
        assert session.compare().equivalence == 1.0

    def test_iteration_cap_stops_an_endless_stream(self):
        """max_iterations bounds an endless iteration stream."""
        session = run_session(config_with(True, 0.0), None, FG, itertools.count(), max_iterations=7)
        assert len(session.observed) == 7
        assert session.stopped_by == "max_iterations"

    def test_duration_stops_before_the_cap(self):
        """The wall-clock bound is checked before each iteration."""
        session = run_session(
            config_with(True, 0.0), None, FG, itertools.count(),
            max_iterations=100, duration_s=5.0, clock=_Clock(),
        )
        assert session.stopped_by == "duration"
        assert 0 < len(session.observed) < 5

    def test_negative_bounds_are_refused(self):
        """A negative cap or duration is an error naming it."""
        with pytest.raises(ValueError, match="max_iterations"):
            run_session(config_with(True, 0.0), None, FG, range(1), max_iterations=-1)
        with pytest.raises(ValueError, match="duration_s"):
            run_session(config_with(True, 0.0), None, FG, range(1), duration_s=-1.0)


class TestRolloutIterations:
    @given(seed=st.integers(0, 2**32), low=st.floats(1, 100), high=st.floats(1, 100))
    def test_a_smaller_percentage_is_a_subset(self, seed, low, high):
        """10% of iterations are inside 50%: raising the percentage only adds iterations."""
        low, high = min(low, high), max(low, high)
        small = set(itertools.islice(rollout_iterations(seed, low), 20))
        large = set(itertools.takewhile(lambda i: i <= max(small), rollout_iterations(seed, high)))
        assert small <= large

    def test_share_is_close_to_the_percentage(self):
        """About 10% of the first 20,000 iterations are selected by a 10% rollout."""
        selected = sum(1 for i in itertools.takewhile(
            lambda i: i < 20_000, rollout_iterations(7, 10.0)
        ))
        assert 1800 < selected < 2200

    @pytest.mark.parametrize("percentage", [0.0, -5.0, 100.5])
    def test_out_of_range_percentages_are_refused(self, percentage):
        """The percentage must be in (0, 100]."""
        with pytest.raises(ValueError, match="percentage"):
            rollout_iterations(1, percentage)


class TestDailySeed:
    def test_fresh_each_day_and_stable_on_rerun(self):
        """Two days differ; the same day gives the same seed; it fits loop.seed's range."""
        monday, tuesday = dt.date(2024, 6, 3), dt.date(2024, 6, 4)
        assert daily_seed(7, monday) == daily_seed(7, monday)
        assert daily_seed(7, monday) != daily_seed(7, tuesday)
        assert daily_seed(7, monday) != daily_seed(8, monday)
        assert 0 <= daily_seed(7, monday) < 2**63

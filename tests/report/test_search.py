"""The search view folded from iteration records built by the loop's own code."""

from __future__ import annotations

import dataclasses
import math

from iteration_records import record_at
from stratloop.generation.decision import decide
from stratloop.llm.budget import Usage
from stratloop.report import render_search, search_view
from stratloop.spec import Candidate, Lineage, Strategy, TopN


def _candidate(expression: str, parents: tuple[str, ...] = (), method: str = "factor_graph"):
    return Candidate(
        Strategy(expression=expression, portfolio=TopN(n=5)),
        method,  # type: ignore[arg-type]
        Lineage(parents=parents, operator="mutate" if parents else "sample"),
    )


def _evaluated(i: int, candidate: Candidate, sharpe: float, *, champion: bool = False):
    record = record_at(i, 0)
    outcome = dataclasses.replace(record.outcome, candidate=candidate)
    return dataclasses.replace(
        record,
        outcome=outcome,
        train={"sharpe": sharpe, "n_trades": 10},
        validation={"sharpe": sharpe / 2, "n_trades": 5},
        champion=champion,
    )


class TestSearchView:
    def test_rates_best_so_far_and_lineage(self) -> None:
        """Acceptance, duplicates, best-so-far per iteration and the champion's ancestry."""
        root = _candidate("rank(returns)")
        child = _candidate("rank(ts_mean(returns, 5))", (root.candidate_id,))
        records = [
            _evaluated(0, root, 0.5, champion=True),
            record_at(1, 1),
            _evaluated(2, root, 0.5),
            _evaluated(3, child, 0.9, champion=True),
        ]
        view = search_view("r1", "sharpe", records)
        assert view.iterations == 4
        assert view.evaluated == 3
        assert view.acceptance_rate == 0.75
        assert view.candidates == 4
        assert view.duplicates == 1
        assert view.duplicate_rate == 0.25
        assert view.trials == 2
        assert view.best_train[0] == 0.5
        assert view.best_train[2] == 0.5
        assert view.best_train[3] == 0.9
        assert view.champion_validation[3] == 0.45
        assert view.champion_updates == 2
        assert view.lineage is not None
        assert view.lineage.candidate_id == child.candidate_id
        assert [p.candidate_id for p in view.lineage.parents] == [root.candidate_id]
        assert view.recent[0]["iteration"] == 3

    def test_generator_shares_and_cost(self) -> None:
        """LLM share and success per bin, and the LLM cost summed over iterations."""
        llm = dataclasses.replace(
            record_at(0, 0).outcome, decision=decide(False, 0.0, 0.1), method_used="llm"
        )
        records = [
            dataclasses.replace(
                record_at(i, 0), outcome=llm, llm_usage=Usage(10, 5, 0.25, 1)
            )
            for i in range(4)
        ] + [record_at(i, 1) for i in range(4, 8)]
        view = search_view("r2", "sharpe", records)
        assert view.llm_iterations == 4
        assert view.llm_successes == 4
        assert view.factor_graph_successes == 0
        assert view.cost == 1.0
        assert view.tokens == 60
        assert view.bins[0]["llm_share"] == 1.0
        assert math.isnan(view.bins[-1]["llm_success"])
        assert view.bins[-1]["factor_graph_success"] == 0.0

    def test_render_has_both_charts_and_no_champion_note(self) -> None:
        """A run without a champion renders its charts and says there is none yet."""
        html = render_search(search_view("r3", "sharpe", [record_at(i, 1) for i in range(3)]))
        assert 'data-chart="search-progress"' in html
        assert 'data-chart="search-generators"' in html
        assert "No champion yet." in html

    def test_empty_run(self) -> None:
        """No records: no rates, no charts, a note."""
        view = search_view("r4", "sharpe", [])
        assert view.acceptance_rate is None
        assert view.duplicate_rate is None
        assert "No iteration committed yet." in render_search(view)

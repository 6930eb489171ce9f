from iteration_records import record_at
from stratloop.iteration import Objective, candidate_from_json, candidate_json
from stratloop.loop.champion import ChampionTracker, Offer
from stratloop.spec import Strategy, TopN

SPEC = Strategy(expression="rank(returns)", portfolio=TopN(n=2)).model_dump(mode="json")
RECORDED = {
    "spec": SPEC,
    "method": "factor_graph",
    "lineage": {"parents": ["a"], "operator": "mutate", "params": {"w": 3}},
}
CANDIDATE = candidate_from_json(RECORDED)


class TestChampionTracker:
    def test_the_first_eligible_result_becomes_champion(self):
        """A finite validation score with enough trades takes the empty throne."""
        tracker = ChampionTracker("sharpe", min_trades=5)
        assert tracker.offer(Offer(0, CANDIDATE, {"sharpe": 0.0}, {"sharpe": 0.1, "n_trades": 5}))
        assert tracker.snapshot is not None
        assert tracker.snapshot.iteration == 0
        assert tracker.snapshot.metrics["sharpe"] == 0.0
        champion = tracker.as_dict()
        assert champion is not None
        assert champion["validation"]["sharpe"] == 0.1

    def test_too_few_trades_cannot_win(self):
        """Below loop.min_trades a result is not eligible, however good."""
        tracker = ChampionTracker("sharpe", min_trades=10)
        assert not tracker.offer(Offer(0, CANDIDATE, {}, {"sharpe": 9.0, "n_trades": 9}))
        assert "fewer than loop.min_trades=10" in (
            tracker.eligibility({"sharpe": 9.0, "n_trades": 9}).reason or ""
        )

    def test_a_missing_or_non_finite_metric_cannot_win(self):
        """None (NaN in history) is not a score."""
        tracker = ChampionTracker("sortino", min_trades=0)
        assert not tracker.offer(Offer(0, CANDIDATE, {}, {"sortino": None, "n_trades": 50}))
        assert not tracker.offer(Offer(1, CANDIDATE, {}, {"sharpe": 1.0, "n_trades": 50}))

    def test_ties_keep_the_incumbent_and_better_scores_replace_it(self):
        """Strictly better wins; the earliest of equals stays."""
        tracker = ChampionTracker("sharpe", min_trades=0)
        tracker.offer(Offer(0, CANDIDATE, {}, {"sharpe": 1.0, "n_trades": 1}))
        assert not tracker.offer(Offer(1, CANDIDATE, {}, {"sharpe": 1.0, "n_trades": 1}))
        assert tracker.offer(Offer(2, CANDIDATE, {}, {"sharpe": 1.5, "n_trades": 1}))
        assert tracker.updates == 2
        assert tracker.score == 1.5

    def test_the_train_block_never_decides(self):
        """A better train score with a worse validation score does not win."""
        tracker = ChampionTracker("sharpe", min_trades=0)
        tracker.offer(Offer(0, CANDIDATE, {"sharpe": 0.0}, {"sharpe": 1.0, "n_trades": 1}))
        better_train = Offer(1, CANDIDATE, {"sharpe": 9.0}, {"sharpe": 0.5, "n_trades": 1})
        assert not tracker.offer(better_train)

    def test_a_recorded_candidate_rebuilds_exactly(self):
        """The history's candidate object gives back the same strategy id and lineage."""
        candidate = candidate_from_json(RECORDED)
        assert candidate.strategy.model_dump(mode="json") == SPEC
        assert candidate.lineage.parents == ("a",)
        assert candidate.lineage.params == {"w": 3}
        assert candidate_from_json(candidate_json(candidate)) == candidate


class TestOffer:
    def test_an_evaluated_record_offers_its_candidate_and_figures(self):
        """The offer carries the record's iteration, candidate, metrics and complexity penalty."""
        objective = Objective("sharpe", 0.81, 4, 0, 0.04, 0.77)
        record = record_at(7, objective=objective)
        offer = Offer.of(record)
        assert offer == Offer(7, record.candidate, record.train, record.selection, 0.04)

    def test_a_record_without_an_evaluated_candidate_offers_nothing(self):
        """Failed validation, generation or evaluation: nothing reaches the champion rule."""
        assert [Offer.of(record_at(i, kind)) for i, kind in enumerate((1, 2, 3))] == [None] * 3

    def test_a_record_without_a_penalty_offers_the_raw_metric(self):
        """No objective on the record means no penalty: the rule compares the metric itself."""
        offer = Offer.of(record_at(0))
        assert offer is not None
        assert offer.penalty == 0.0

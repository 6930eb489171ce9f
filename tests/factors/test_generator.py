import numpy as np

from stratloop.config.models import GenerationConfig, StratloopConfig
from stratloop.factors import FactorGraphGenerator, Limits, default_library, parse
from stratloop.generation.context import ChampionSnapshot, GenerationContext
from stratloop.generation.strategies import CandidateSource
from stratloop.spec import Candidate, Strategy, TopN

CONFIG = StratloopConfig(
    version=1, generation=GenerationConfig(use_factor_graph=True, innovation_rate=0.0)
)


def generator():
    return FactorGraphGenerator(
        default_library(), limits=Limits(), fields=frozenset({"close"}), n_assets=20
    )


def context(iteration, champion=None, extras=None):
    ctx = GenerationContext.create(CONFIG, iteration, champion=champion, extras=extras)
    ctx.rng.random()  # the decision's draw
    return ctx


class TestFactorGraphGenerator:
    def test_is_a_candidate_source(self):
        """It satisfies the CandidateSource protocol."""
        assert isinstance(generator(), CandidateSource)

    def test_samples_without_champion(self):
        """No champion: a library factor with the default top-N rule."""
        candidate = generator().propose(context(0))
        assert candidate.method == "factor_graph"
        assert candidate.lineage.operator == "sample"
        assert candidate.strategy.portfolio == TopN(n=5, rebalance_days=21)
        parse(candidate.strategy.expression)

    def test_same_seed_same_candidates(self):
        """The same seed and iteration give bit-identical candidates."""
        champion = ChampionSnapshot(
            Candidate(Strategy(expression="rank(returns)", portfolio=TopN(n=5)), "factor_graph"),
            {"sharpe": 1.0},
        )
        for iteration in range(5):
            first = generator().propose(context(iteration, champion))
            second = generator().propose(context(iteration, champion))
            assert first == second
        assert generator().propose(context(1)) != generator().propose(context(2))

    def test_continues_the_stream(self):
        """Proposing consumes the iteration's stream after the decision, without re-seeding."""
        ctx = context(3)
        before = ctx.rng.bit_generator.state
        generator().propose(ctx)
        assert ctx.rng.bit_generator.state != before

    def test_mutates_champion_with_elite_partner(self):
        """With a champion the child descends from it; elites can be crossover partners."""
        parent = Strategy(expression="rank(ts_mean(returns, 20))", portfolio=TopN(n=5))
        elite = (Strategy(expression="-ts_std(returns, 60)", portfolio=TopN(n=5)),)
        champion = ChampionSnapshot(Candidate(parent, "factor_graph"), {"sharpe": 1.0})
        seen = set()
        for iteration in range(40):
            candidate = generator().propose(context(iteration, champion, {"elite": elite}))
            assert candidate.lineage.parents[0] == parent.strategy_id()
            assert candidate.strategy != parent
            seen.add(candidate.lineage.operator)
        assert "crossover" in seen
        assert np.all([op in seen for op in ("parameter", "portfolio")])

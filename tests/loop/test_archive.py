"""The diversity archive (MAP-Elites) and the complexity penalty, on real runs and as values."""

from __future__ import annotations

import datetime
import html
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stratloop.cli import app
from stratloop.config import load_config, validate_config
from stratloop.config.models import ArchiveConfig, StratloopConfig
from stratloop.errors import ConfigValidationError
from stratloop.factors import default_library, parse
from stratloop.flags import EnvFlagSource, Flags
from stratloop.generation.decision import decide
from stratloop.generation.outcome import GenerationOutcome
from stratloop.iteration import IterationRecord
from stratloop.loop.archive import (
    FAMILIES,
    Archive,
    Cell,
    Elite,
    Grid,
    bucket,
    factor_family,
)
from stratloop.loop.assemble import build_parts
from stratloop.loop.history import read_history
from stratloop.loop.islands import parent_rng
from stratloop.loop.objective import ComplexityPenalty, complexity
from stratloop.loop.record import Generated
from stratloop.loop.runner import LoopRunner, open_run
from stratloop.loop.state import LoopState
from stratloop.loop.workers import EvalResult
from stratloop.spec import Candidate, Strategy, TopN

NO_AUDIT = {"PHASE4_AUDIT_TRAIL": "false"}

FAMILY_OF_TEMPLATE = {
    "momentum_12_1": "momentum",
    "short_term_reversal": "reversal",
    "low_volatility": "volatility",
    "vol_adjusted_momentum": "mixed",
    "trend": "momentum",
    "dual_moving_average": "momentum",
    "breakout": "momentum",
    "rsi_oscillator": "momentum",
    "zscore_reversion": "reversal",
    "drawdown_from_high": "momentum",
    "return_skew": "mixed",
    "multi_factor": "mixed",
    "ema_reversion": "reversal",
    "smoothed_return": "momentum",
    "price_position": "momentum",
}


_START = datetime.date(2016, 1, 1)
"""The runs' panel: the embedded data from 2016 (the archive's cells are about candidates,
and backtests over all of 1990-2022 made each run several times slower)."""


def _config(
    tmp_path, *, archive=None, penalty=None, search_extra=None, **loop
) -> StratloopConfig:
    search = dict(search_extra or {})
    if archive is not None:
        search["archive"] = archive
    if penalty is not None:
        search["complexity_penalty"] = penalty
    return StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "data": {"source": "sp500-20", "start_date": _START},
            "loop": {"runs_dir": str(tmp_path / "runs"), "batch_size": 4, "iterations": 40, **loop},
            "audit": {"path": str(tmp_path / "audit" / "trail.jsonl")},
            "search": search,
        }
    )


def _parts(config):
    def make(spent):
        return build_parts(
            config, flags=EnvFlagSource(NO_AUDIT), run_id="r", instance_id="test", spent=spent
        )

    return make


def _run(config, run_id):
    summary = LoopRunner.create(config, _parts(config), run_id=run_id).run()
    assert summary.status == "completed", summary.message
    return summary, read_history(summary.path / "history.jsonl").records


def _comparable(records):
    return [record.comparable() for record in records]


def _elite(cell: Cell, iteration: int, score: float) -> Elite:
    strategy = Strategy(expression=f"rank(ts_mean(returns, {iteration + 2}))", portfolio=TopN(n=5))
    return Elite(cell, iteration, Candidate(strategy, "factor_graph"), score, score)


class TestDescriptors:
    """Each descriptor follows its documented rule."""

    @pytest.mark.parametrize(("name", "family"), sorted(FAMILY_OF_TEMPLATE.items()))
    def test_every_library_factor_has_its_family(self, name, family):
        """The built-in factors fall in the family their name says (mixed for combinations)."""
        template = default_library().get(name)
        assert factor_family(parse(str(template.instantiate()))) == family

    @pytest.mark.parametrize(
        ("expression", "family"),
        [
            ("rank(volume / ts_mean(volume, 20))", "volume"),
            ("close * volume", "mixed"),
            ("(high - low) / close", "mixed"),
            ("ts_mean(high - low, 10)", "volatility"),
            ("-rank(ts_mean(returns, 5))", "reversal"),
            ("rank(ts_mean(returns, 5)) * -2", "reversal"),
            ("1 - rank(pct_change(close, 5))", "reversal"),
            ("1 / close", "reversal"),
            ("rank(ts_mean(returns, 60))", "momentum"),
        ],
    )
    def test_family_rule_on_written_expressions(self, expression, family):
        """Ingredients decide volume / volatility / mixed; the leading sign momentum / reversal."""
        assert factor_family(parse(expression)) == family

    def test_complexity_counts_nodes_and_free_constants(self):
        """Windows and lags are the operator's parameters, not free constants."""
        assert complexity(parse("ts_mean(returns, 20)")) == complexity(parse("delay(close, 5)"))
        size = complexity(parse("clip(close / ts_mean(close, 20) - 1, -0.5, 0.5) * 3"))
        assert (size.nodes, size.constants) == (12, 4)

    def test_the_cell_reads_turnover_beta_and_size(self):
        """Buckets: below the first edge is 0, at an edge the next bucket; no beta is None."""
        grid = Grid.from_config(ArchiveConfig())
        expr = parse("rank(ts_mean(returns, 20))")
        assert grid.cell(expr, {"turnover": 12.0, "beta": 0.7}) == Cell("momentum", 2, 0, 0)
        assert grid.cell(expr, {"turnover": 30.0, "beta": None}) == Cell("momentum", 3, None, 0)

    def test_a_record_without_turnover_is_an_error(self):
        """Every evaluation measures turnover: its absence is reported, not bucketed silently."""
        with pytest.raises(Exception, match="no finite turnover"):
            Grid.from_config(ArchiveConfig()).cell(parse("close"), {"beta": 1.0})

    @settings(suppress_health_check=[HealthCheck.too_slow])  # a busy host draws slowly
    @given(
        edges=st.lists(
            st.floats(-1e6, 1e6, allow_nan=False), min_size=0, max_size=8, unique=True
        ).map(lambda xs: tuple(sorted(xs))),
        value=st.floats(-2e6, 2e6, allow_nan=False),
    )
    def test_a_bucket_lies_between_its_edges(self, edges, value):
        """Property: bucket b satisfies edges[b-1] <= value < edges[b] (open at both ends)."""
        b = bucket(value, edges)
        assert 0 <= b <= len(edges)
        assert b == 0 or edges[b - 1] <= value
        assert b == len(edges) or value < edges[b]


class TestArchive:
    """A cell keeps its best candidate; sampling follows the configured rate."""

    def test_a_cell_keeps_the_better_candidate_only(self):
        """A lower or equal score leaves the incumbent; a higher one replaces it."""
        cell = Cell("momentum", 1, 1, 1)
        archive, kept = Archive.empty(ArchiveConfig()).offer(_elite(cell, 0, 0.5))
        assert kept
        archive, kept = archive.offer(_elite(cell, 1, 0.5))
        assert not kept
        assert archive.elites[cell].iteration == 0
        archive, kept = archive.offer(_elite(cell, 2, 0.4))
        assert not kept
        archive, kept = archive.offer(_elite(cell, 3, 0.9))
        assert kept
        assert archive.elites[cell].iteration == 3
        assert (archive.filled, archive.offered) == (1, 4)

    @settings(suppress_health_check=[HealthCheck.too_slow])
    @given(
        offers=st.lists(
            st.tuples(
                st.sampled_from(FAMILIES),
                st.integers(0, 3),
                st.one_of(st.none(), st.integers(0, 3)),
                st.integers(0, 3),
                st.floats(-5, 5, allow_nan=False),
            ),
            max_size=60,
        )
    )
    def test_insertion_keeps_the_first_best_of_each_cell(self, offers):
        """Property: each cell holds the earliest of its highest-scoring offers; none is lost."""
        archive = Archive.empty(ArchiveConfig())
        for i, (family, turnover, beta, nodes, score) in enumerate(offers):
            before = archive
            archive, _ = archive.offer(_elite(Cell(family, turnover, beta, nodes), i, score))
            assert before.offered == i  # an offer never changes the archive it was made to
        best: dict[Cell, tuple[float, int]] = {}
        for i, (family, turnover, beta, nodes, score) in enumerate(offers):
            cell = Cell(family, turnover, beta, nodes)
            if cell not in best or score > best[cell][0]:
                best[cell] = (score, i)
        assert archive.filled == len(best)
        assert archive.offered == len(offers)
        assert {c: (e.score, e.iteration) for c, e in archive.elites.items()} == best
        assert list(archive.cells()) == sorted(best, key=Cell.sort_key)

    def test_parents_come_from_the_archive_at_the_configured_rate(self):
        """Over 4,000 iterations' streams the share is within 4 sigma of the rate, uniform."""
        archive = Archive.empty(ArchiveConfig())
        cells = [Cell(family, 0, 0, 0) for family in FAMILIES]
        for i, cell in enumerate(cells):
            archive, _ = archive.offer(_elite(cell, i, 1.0))
        n, rate = 4000, 0.3
        drawn = [archive.sample(parent_rng(7, i), rate) for i in range(n)]
        chosen = [elite.cell for elite in drawn if elite is not None]
        sigma = math.sqrt(n * rate * (1 - rate))
        assert abs(len(chosen) - n * rate) < 4 * sigma
        for cell in cells:
            share = chosen.count(cell) / len(chosen)
            assert abs(share - 1 / len(cells)) < 0.05
        assert Archive.empty(ArchiveConfig()).sample(np.random.default_rng(0), 1.0) is None

    def test_archive_json_round_trips(self):
        """What archive.json holds reads back as the same archive."""
        archive = Archive.empty(ArchiveConfig())
        for i, family in enumerate(FAMILIES):
            archive, _ = archive.offer(_elite(Cell(family, i % 4, None, 1), i, 0.1 * i))
        payload = json.loads(json.dumps(archive.as_json(iterations=5)))
        assert Archive.from_json(payload) == archive
        assert payload["fill_by_family"] == dict.fromkeys(FAMILIES, 1)


class TestArchiveConfig:
    """The archive's settings are validated with messages that name the field and the fix."""

    @pytest.mark.parametrize("phase2", [True, False])
    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            ({"parent_rate": 1.5}, "search.archive.parent_rate"),
            ({"turnover_ratio": 1.0}, "search.archive.turnover_ratio"),
            ({"nodes_first": 1}, "search.archive.nodes_first"),
            ({"beta_buckets": 0}, "search.archive.beta_buckets"),
            ({"beta_step": "0.2"}, "search.archive.beta_step"),
            ({"enabeld": True}, "did you mean `search.archive.enabled`"),
        ],
    )
    def test_bad_settings_are_rejected_on_both_validators(self, settings, message, phase2):
        """Typed (Phase 2) and dict (Phase 1) validation give the same error."""
        data = {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "search": {"archive": settings, "complexity_penalty": {"per_node": 0.01}},
        }
        flags = Flags(master=True, phase1=True, phase2=phase2, phase3=True, phase4=False)
        with pytest.raises(ConfigValidationError, match=message):
            validate_config(data, flags=flags)

    @pytest.mark.parametrize("phase2", [True, False])
    def test_a_subsection_is_set_from_the_environment_and_the_command_line(self, phase2):
        """STRATLOOP_SEARCH__ARCHIVE__ENABLED and --set search.archive.parent_rate both reach it."""
        flags = Flags(master=True, phase1=True, phase2=phase2, phase3=True, phase4=False)
        config = load_config(
            None,
            environ={"STRATLOOP_SEARCH__ARCHIVE__ENABLED": "true"},
            overrides={
                "search.archive.parent_rate": 0.25,
                "search.complexity_penalty.per_constant": 0.5,
            },
            flags=flags,
        )
        assert config.search.archive.enabled is True
        assert config.search.archive.parent_rate == 0.25
        assert config.search.complexity_penalty.per_constant == 0.5
        with pytest.raises(ConfigValidationError, match=r"did you mean `search\.archive\.enabled`"):
            load_config(None, environ={}, overrides={"search.archive.enabeld": True}, flags=flags)

    def test_every_setting_gives_increasing_edges(self):
        """Edges grow from the first, so no combination of valid settings disorders them."""
        grid = Grid.from_config(ArchiveConfig())
        assert grid.turnover_edges == (4.0, 10.0, 25.0)
        assert grid.beta_edges == (0.8, 1.0, 1.2)
        assert grid.nodes_edges == (5.0, 9.0, 17.0)
        assert grid.capacity == 5 * 4 * 4 * 4

    @settings(suppress_health_check=[HealthCheck.too_slow])
    @given(
        buckets=st.integers(1, 16),
        first=st.floats(1e-3, 100),
        ratio=st.floats(1.01, 10),
        step=st.floats(1e-3, 10),
    )
    def test_edges_are_strictly_increasing_for_any_valid_setting(self, buckets, first, ratio, step):
        """Property: each dimension has buckets - 1 strictly increasing edges."""
        config = ArchiveConfig(
            turnover_buckets=buckets, turnover_first=first, turnover_ratio=ratio,
            beta_buckets=buckets, beta_first=-first, beta_step=step,
        )  # fmt: skip
        grid = Grid.from_config(config)
        for edges in (grid.turnover_edges, grid.beta_edges):
            assert len(edges) == buckets - 1
            assert all(a < b for a, b in itertools.pairwise(edges))


class TestArchiveRuns:
    """On the embedded data, with the real factor graph and backtest."""

    def test_parents_are_sampled_from_the_batch_archive_and_it_is_written(self, tmp_path):
        """Each mutation's parent is what its island's batch view draws; about half are elites."""
        config = _config(tmp_path, archive={"enabled": True, "parent_rate": 0.5}, iterations=48)
        summary, records = _run(config, "a")
        state = LoopState(config)
        from_archive = mutated = 0
        for record in records:
            i = record.iteration_num
            if i % config.loop.batch_size == 0:
                view = state.islands.view()
            island = view.at(i)
            parent = island.parent(i)
            candidate = record.candidate
            if candidate is not None and candidate.lineage.operator != "sample":
                assert parent is not None
                assert candidate.lineage.parents[0] == parent.candidate.candidate_id
                mutated += 1
                archive = island.parents.archive  # the batch's frozen archive
                from_archive += archive.sample(parent_rng(island.seed, i), 0.5) is not None
            state.apply(record)
        assert mutated > 20
        assert 0.25 * mutated < from_archive < 0.75 * mutated
        (stored,) = json.loads((summary.path / "archive.json").read_text())["archives"]
        (archive,) = state.archives
        assert stored["filled"] == archive.filled > 3
        assert stored["island"] is None
        assert Archive.from_json(stored) == Archive(archive.grid, archive.elites, stored["offered"])
        metrics = json.loads((summary.path / "metrics.json").read_text())
        assert metrics["archive_filled"] == archive.filled

    def test_each_island_owns_its_archive(self, tmp_path):
        """With two islands each archive holds its island's candidates and the migrants it got."""
        config = _config(
            tmp_path,
            archive={"enabled": True},
            iterations=40,
            search_extra={"islands": 2, "migration_interval": 8},
        )
        summary, records = _run(config, "islands")
        received = {
            (move.target, move.iteration)
            for record in records
            for move in record.migrations
        }
        assert received
        payload = json.loads((summary.path / "archive.json").read_text())["archives"]
        assert [archive["island"] for archive in payload] == [0, 1]
        for archive in payload:
            assert archive["filled"] > 0
            for elite in archive["cells"]:
                k = archive["island"]
                assert elite["iteration"] % 2 == k or (k, elite["iteration"]) in received
        resumed = LoopState.replay(config, records)
        assert [a.filled for a in resumed.archives] == [a["filled"] for a in payload]

    def test_show_and_the_tear_sheet_present_the_archive(self, tmp_path, monkeypatch):
        """`stratloop show` prints the fill; the report's heatmap has one cell per elite."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("STRATLOOP_DATA__START_DATE", "2015-01-02")
        ran = CliRunner().invoke(
            app,
            ["run", "-n", "16", "--no-progress", "--set", "search.archive.enabled=true"],
        )
        assert ran.exit_code == 0, ran.output
        (run,) = (tmp_path / "runs").iterdir()
        (stored,) = json.loads((run / "archive.json").read_text())["archives"]
        shown = CliRunner().invoke(app, ["show", run.name])
        assert f"archive: {stored['filled']} of 320 cells filled" in " ".join(shown.output.split())
        page = (run / "tearsheet.html").read_text()
        heatmap = page[page.index('data-chart="archive-heatmap"') :]
        heatmap = heatmap[: heatmap.index("</svg>")]
        assert heatmap.count('class="cell"') == stored["filled"] > 0
        assert "axis-label y" in heatmap
        for cell in stored["cells"]:
            assert html.escape(cell["expression"]) in heatmap

    def test_the_same_seed_gives_the_same_history_with_one_or_two_workers(self, tmp_path):
        """Parents are drawn in the driver from the batch's archive: workers do not matter."""
        archive = {"enabled": True, "parent_rate": 0.7}
        _, one = _run(_config(tmp_path, archive=archive, workers=1, iterations=24), "w1")
        _, two = _run(_config(tmp_path, archive=archive, workers=2, iterations=24), "w2")
        assert _comparable(one) == _comparable(two)

    @pytest.mark.parametrize("islands", [1, 2])
    def test_a_resume_mid_batch_equals_an_uninterrupted_run(self, tmp_path, islands):
        """History and archive.json after a cut and resume equal those of one run."""
        config = _config(
            tmp_path,
            archive={"enabled": True, "parent_rate": 0.6},
            iterations=32,
            search_extra={"islands": islands, "migration_interval": 8},
        )
        full, expected = _run(config, "full")
        cut, _ = _run(config, "cut")
        history = cut.path / "history.jsonl"
        lines = history.read_bytes().splitlines(keepends=True)
        history.write_bytes(b"".join(lines[:14]))
        (cut.path / "archive.json").unlink()
        (cut.path / "islands.json").unlink(missing_ok=True)
        rundir, stored = open_run(tmp_path / "runs", "cut")
        runner = LoopRunner.resume(rundir, stored, _parts(stored))
        assert runner.state.next_iteration == 14
        summary = runner.run()
        resumed = read_history(summary.path / "history.jsonl").records
        assert _comparable(resumed) == _comparable(expected)
        archive_of = [
            [a["cells"] for a in json.loads((s.path / "archive.json").read_text())["archives"]]
            for s in (full, summary)
        ]
        assert archive_of[0] == archive_of[1]
        assert len(archive_of[0]) == islands

    def test_a_disabled_archive_leaves_the_history_as_it_was(self, tmp_path):
        """Off (the default) or on with parent_rate 0: the same history, no objective key."""
        _, default = _run(_config(tmp_path, iterations=24), "off")
        summary, never = _run(
            _config(tmp_path, archive={"enabled": True, "parent_rate": 0.0}, iterations=24), "zero"
        )
        assert _comparable(default) == _comparable(never)
        assert all("objective" not in record.as_dict() for record in default)
        assert not (tmp_path / "runs" / "off" / "archive.json").exists()
        assert (summary.path / "archive.json").exists()


def _evaluated(iteration: int, expression: str, metric: float) -> IterationRecord:
    outcome = GenerationOutcome(
        "procedural",
        decide(True, 0.0, 0.3),
        "procedural",
        "factor_graph",
        Candidate(Strategy(expression=expression, portfolio=TopN(n=5)), "factor_graph"),
    )
    metrics = {"information_ratio": metric, "n_trades": 40, "turnover": 6.0, "beta": 1.0}
    result = EvalResult(iteration, metrics, metrics, 0.01, fingerprint="AAEC")
    return Generated(iteration, 0, "", {}, False, outcome).record(result)


class TestComplexityPenalty:
    """The champion rule compares metric - penalty; the record keeps both figures."""

    SMALL = "rank(ts_mean(returns, 20))"
    BIG = "rank(ts_mean(returns, 20)) + 0.1 * rank(ts_std(returns, 60)) - 0.05 * rank(close)"

    def _champion(self, tmp_path, penalty):
        state = LoopState(_config(tmp_path, penalty=penalty))
        flags = []
        for i, (expression, metric) in enumerate(((self.SMALL, 0.50), (self.BIG, 0.55))):
            record = state.objective(_evaluated(i, expression, metric))
            record = record.with_champion(state.apply(record))
            assert IterationRecord.from_json(record.to_json()) == record
            flags.append(record)
        return state, flags

    def test_without_a_penalty_the_bigger_expression_wins(self, tmp_path):
        """Higher raw metric, no penalty: the big expression becomes champion."""
        state, records = self._champion(tmp_path, None)
        assert [r.champion for r in records] == [True, True]
        assert all(r.objective is None for r in records)
        assert state.champion.score == pytest.approx(0.55)

    def test_a_penalty_per_node_keeps_the_smaller_expression(self, tmp_path):
        """0.01 per node costs the 16-node expression more than its 0.05 lead."""
        state, records = self._champion(tmp_path, {"per_node": 0.01})
        assert [r.champion for r in records] == [True, False]
        big = records[1].objective
        assert big is not None
        assert big.raw == pytest.approx(0.55)
        assert big.nodes == parse(self.BIG).size
        assert big.score == pytest.approx(0.55 - 0.01 * big.nodes)
        assert state.champion.score == pytest.approx(0.50 - 0.01 * parse(self.SMALL).size)

    def test_the_penalty_is_per_node_and_per_constant(self):
        """Two free constants and 16 nodes: 16 * a + 2 * b."""
        penalty = ComplexityPenalty("information_ratio", per_node=0.01, per_constant=0.1)
        objective = penalty.objective(self.BIG, 1.0)
        assert (objective.nodes, objective.constants) == (16, 2)
        assert objective.penalty == pytest.approx(0.16 + 0.2)

"""A run and the persistent factor library: saved at the end, read at the start, compared with."""

from __future__ import annotations

import dataclasses
import datetime
import json

import pytest

from stratloop.config.models import StratloopConfig
from stratloop.errors import SavedFactorError
from stratloop.factors.saved import FactorStore, SavedFactor
from stratloop.flags import EnvFlagSource
from stratloop.generation.strategies import FunctionSource
from stratloop.loop.assemble import parts_factory
from stratloop.loop.evaluation import load_run_panel
from stratloop.loop.history import read_history
from stratloop.loop.library import SNAPSHOT, open_run_library
from stratloop.loop.runner import LoopRunner
from stratloop.spec import Candidate, Lineage, LongShort, Strategy, TopN

NO_AUDIT = {"PHASE4_AUDIT_TRAIL": "false"}
TREND = "rank(ts_mean(returns, 20))"


def _config(tmp_path, library="lib", iterations=8, **section) -> StratloopConfig:
    """A short run on the embedded data from 2016 (the library's part needs no longer panel)."""
    return StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "data": {"source": "sp500-20", "start_date": datetime.date(2016, 1, 1)},
            "loop": {
                "runs_dir": str(tmp_path / "runs"),
                "iterations": iterations,
                "batch_size": 4,
                "workers": 1,
                "seed": 3,
                "min_trades": 1,
            },
            "audit": {"path": str(tmp_path / "audit" / "trail.jsonl")},
            "library": {"path": str(tmp_path / library), **section},
        }
    )


def _run(config, run_id, expressions=None):
    """Run ``config``; with ``expressions``, iteration i proposes ``expressions[i]``."""
    make = parts_factory(config, flags=EnvFlagSource(NO_AUDIT), run_id=run_id)
    if expressions is not None:

        def scripted(ctx):
            strategy = expressions[ctx.iteration]
            return Candidate(strategy, "factor_graph", Lineage(operator="test"))

        real = make

        def make(spent):  # type: ignore[no-redef]
            return dataclasses.replace(real(spent), factor_graph=FunctionSource(scripted))

    return LoopRunner.create(config, make, run_id=run_id).run()


def _save(tmp_path, expression, name, library="lib"):
    strategy = Strategy(expression=expression, portfolio=TopN(n=5))
    FactorStore(tmp_path / library).add(SavedFactor.create(strategy, name=name))


class TestPersistence:
    """A run's champion is saved; the next run starts with it."""

    def test_two_runs_share_the_library(self, tmp_path):
        """Run one saves its champion; run two starts with it and keeps it in library.json."""
        config = _config(tmp_path)
        first = _run(config, "one")
        assert first.status == "completed"
        assert first.champion is not None
        entries = FactorStore(tmp_path / "lib").entries()
        assert len(entries) == 1
        saved = entries[0]
        assert f"champion saved to the factor library as {saved.name}" in first.message
        assert saved.run_id == "one"
        assert saved.iteration == first.champion["iteration"]
        assert saved.strategy.model_dump(mode="json") == first.champion["spec"]
        assert saved.metrics["score"] == first.champion["score"]
        assert (first.path / SNAPSHOT).exists()
        assert json.loads((first.path / SNAPSHOT).read_text())["entries"] == []

        second = _run(config, "two")
        started = json.loads((second.path / SNAPSHOT).read_text())
        assert [e["name"] for e in started["entries"]] == [saved.name]
        names = FactorStore(tmp_path / "lib").names
        assert saved.name in names
        records = read_history(second.path / "history.jsonl").records
        assert all("factor(" not in r.candidate.strategy.expression for r in records if r.candidate)

    def test_save_never_leaves_the_library_alone(self, tmp_path):
        """``library.save: never`` saves nothing."""
        summary = _run(_config(tmp_path, save="never"), "one")
        assert summary.champion is not None
        assert FactorStore(tmp_path / "lib").entries() == ()

    def test_save_champion_saves_each_new_champion(self, tmp_path):
        """``library.save: champion`` saves every champion as it is accepted."""
        summary = _run(_config(tmp_path, save="champion", iterations=12), "one")
        records = read_history(summary.path / "history.jsonl").records
        champions = {r.candidate.strategy.expression for r in records if r.champion}
        saved = {e.expression for e in FactorStore(tmp_path / "lib").entries()}
        assert champions
        assert saved == champions

    def test_a_resumed_run_sees_the_entries_it_started_with(self, tmp_path):
        """Entries saved after a run started do not reach it, even on resume (library.json)."""
        _save(tmp_path, TREND, "trend")
        config = _config(tmp_path)
        run_dir = tmp_path / "runs" / "r"
        run_dir.mkdir(parents=True)
        panel = load_run_panel(config)
        first = open_run_library(config, run_dir, panel)
        _save(tmp_path, "rank(ts_std(returns, 30))", "later")
        again = open_run_library(config, run_dir, panel)
        assert first is not None
        assert again is not None
        assert first.definitions.names == again.definitions.names == ("trend",)

    def test_a_corrupt_entry_stops_the_start(self, tmp_path):
        """A damaged entry is an error naming the file before the run starts; nothing is created."""
        _save(tmp_path, TREND, "trend")
        path = tmp_path / "lib" / "trend.json"
        path.write_text(path.read_text().replace("20", "21"))
        with pytest.raises(SavedFactorError, match=r"trend\.json"):
            _run(_config(tmp_path), "one")
        assert not (tmp_path / "runs" / "one").exists()


class TestRedundancy:
    """A candidate too correlated with a library factor is redundant, naming the factor."""

    CANDIDATES = (
        Strategy(expression="rank(ts_mean(returns, 21))", portfolio=LongShort(quantile=0.2)),
        Strategy(expression="rank(ts_std(returns, 120))", portfolio=TopN(n=5)),
    )

    def test_planted_duplicate_is_redundant_and_independent_one_is_not(self, tmp_path):
        """A near copy of a library factor (another rule) is redundant; an unrelated one is not."""
        _save(tmp_path, TREND, "trend")
        summary = _run(_config(tmp_path, iterations=2, save="never"), "one", self.CANDIDATES)
        copy, other = read_history(summary.path / "history.jsonl").records
        assert copy.status == "redundant"
        assert copy.redundancy is not None
        assert copy.redundancy.library_factor == "trend"
        assert copy.redundancy.of_iteration is None
        assert copy.redundancy.threshold == 0.7
        assert copy.redundancy.correlation > 0.9
        assert other.status == "evaluated"
        assert summary.metrics["redundant"] == 1

    def test_the_threshold_is_strict(self, tmp_path):
        """Just above the measured correlation, the copy is a new trial; 1 turns the check off."""
        _save(tmp_path, TREND, "trend")
        measured = _run(_config(tmp_path, iterations=1, save="never"), "one", self.CANDIDATES)
        (record,) = read_history(measured.path / "history.jsonl").records
        assert record.redundancy is not None
        above = min(1.0, record.redundancy.correlation + 1e-3)
        for run_id, threshold in (("two", above), ("three", 1.0)):
            config = _config(tmp_path, iterations=1, save="never", max_correlation=threshold)
            summary = _run(config, run_id, self.CANDIDATES)
            (again,) = read_history(summary.path / "history.jsonl").records
            assert again.status == "evaluated"

"""Islands (``search.islands``): populations with their own seeds and parents, ring migration."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loop_helpers import (
    factor_graph_source,
    hash_evaluator,
    llm_source,
    loop_config,
    make_candidate,
)

from run_helpers import AUDIT_OFF, enter_workdir
from stratloop.config import validate_config
from stratloop.config.models import StratloopConfig
from stratloop.errors import ConfigValidationError, RunError
from stratloop.flags import EnvFlagSource, Flags
from stratloop.generation.strategies import FunctionSource
from stratloop.loop import LoopParts, LoopRunner, read_history
from stratloop.loop.islands import island_lines, island_seed
from stratloop.loop.runner import open_run
from stratloop.spec import Candidate, Lineage, Strategy, TopN

MIXED = {"use_factor_graph": None, "innovation_rate": 30}
LLM_ON = {"enabled": True, "base_url": "http://127.0.0.1:9/v1", "model": "m"}

SINGLE_POPULATION_DIGEST = "04e7d3e53725d33a67fd64cba53d11c3aabe436e5e589e7060adc8b2b7a9e045"
"""sha256 of the comparable history of the one-island run below, recorded with the loop as it
was without islands (metrics at six significant digits). Only a deliberate change to the history
line may change it; record it again then, with a run that has no islands."""


def _islands_config(tmp_path, islands=3, interval=6, **loop: Any) -> StratloopConfig:
    config = loop_config(tmp_path, **loop)
    search = config.search.model_copy(update={"islands": islands, "migration_interval": interval})
    return config.model_copy(update={"search": search})


def _parts(factor_graph=None, evaluator=hash_evaluator, **kwargs: Any) -> LoopParts:
    return LoopParts(
        factor_graph=factor_graph or factor_graph_source(),
        evaluator=evaluator,
        flags=EnvFlagSource(AUDIT_OFF),
        **kwargs,
    )


def _run(config, run_id, parts=None):
    parts = parts or _parts()
    summary = LoopRunner.create(config, lambda _u: parts, run_id=run_id).run()
    assert summary.status == "completed", summary.message
    return summary, read_history(summary.path / "history.jsonl").records


def _comparable(records):
    return [record.comparable() for record in records]


def _window(strategy: Strategy) -> int:
    return int(strategy.expression.rsplit(",", 1)[1].strip(" )"))


def _window_evaluate(strategy: Strategy, n_trials: int) -> Mapping[str, Any]:
    """The validation information ratio is the expression's window / 1000: a known order."""
    metrics = {"information_ratio": _window(strategy) / 1000, "n_trades": 20, "sharpe": 0.0}
    return {"train": metrics, "validation": metrics, "folds": [metrics]}


def window_evaluator(config: StratloopConfig):
    """Scores a candidate by its window, so a test knows which island is better."""
    return _window_evaluate


def _strong_and_weak(ctx) -> Candidate:
    """Island 0 proposes windows above 100 (strong), island 1 below 100 (weak)."""
    window = 100 + ctx.iteration if ctx.iteration % 2 == 0 else 1 + ctx.iteration
    parent = ctx.champion.candidate.candidate_id if ctx.champion else None
    return Candidate(
        Strategy(expression=f"rank(ts_mean(returns, {window}))", portfolio=TopN(n=3)),
        "factor_graph",
        Lineage(parents=(parent,) if parent else (), operator="test"),
    )


class TestAssignment:
    """Iteration i belongs to island i mod K, which gives it its seed, parent and feedback."""

    def test_every_island_receives_and_evaluates_candidates(self, tmp_path):
        """Three islands over 24 iterations: each gets 8 iterations and evaluates them."""
        summary, records = _run(_islands_config(tmp_path, iterations=24), "r")
        assert [r.island for r in records] == [i % 3 for i in range(24)]
        state = json.loads((summary.path / "islands.json").read_text())
        assert [p["iterations"] for p in state["populations"]] == [8, 8, 8]
        assert all(p["evaluated"] > 0 for p in state["populations"])
        assert all(p["champion"] is not None for p in state["populations"])
        for island in range(3):
            mine = [r for r in records if r.island == island and r.evaluated]
            assert len(mine) == state["populations"][island]["evaluated"]
        assert summary.metrics["islands"] == 3

    def test_generation_sees_its_islands_seed_parent_and_feedback(self, tmp_path):
        """ctx.seed is the island's; the parent and the feedback are from the same island."""
        seen = []

        def spy(ctx):
            seen.append(
                (
                    ctx.iteration,
                    ctx.seed,
                    None if ctx.champion is None else ctx.champion.iteration,
                    [item.iteration for item in ctx.feedback],
                )
            )
            return make_candidate(ctx, "factor_graph")

        config = _islands_config(tmp_path, interval=1000, iterations=24, seed=9)
        _run(config, "r", _parts(factor_graph=FunctionSource(spy)))
        assert len(seen) >= 24
        for iteration, seed, parent, feedback in seen:
            island = iteration % 3
            assert seed == island_seed(9, island)
            assert parent is None or parent % 3 == island
            assert all(item % 3 == island for item in feedback)
        assert any(parent is not None for _, _, parent, _ in seen)

    def test_island_seeds_are_distinct_and_island_0_is_the_run_seed(self):
        """Island 0 draws from the run seed; the others from seeds derived from it, in range."""
        seeds = [island_seed(42, k) for k in range(256)]
        assert seeds[0] == 42
        assert len(set(seeds)) == 256
        assert all(0 <= seed < 2**63 for seed in seeds)
        assert island_seed(43, 1) != island_seed(42, 1)


class TestMigration:
    """Every M iterations each island's champion is offered to the next island on the ring."""

    def test_migration_happens_at_the_interval_along_the_ring(self, tmp_path):
        """K=3, M=6, 24 iterations: migrations after iterations 5, 11, 17, 23, k -> k+1 mod 3."""
        summary, records = _run(_islands_config(tmp_path, iterations=24), "r")
        with_moves = [r.iteration_num for r in records if r.migrations]
        assert with_moves == [5, 11, 17, 23]
        for record in records:
            for move in record.migrations:
                assert move.target == (move.source + 1) % 3
                assert records[move.iteration].island == move.source or any(
                    m.adopted and m.iteration == move.iteration and m.target == move.source
                    for r in records[: record.iteration_num]
                    for m in r.migrations
                )
        moves = [m for r in records for m in r.migrations]
        assert summary.metrics["migrations"] == len(moves) == 12
        assert summary.metrics["migrations_adopted"] == sum(m.adopted for m in moves)

    def test_a_migrant_is_adopted_only_when_it_scores_higher(self, tmp_path):
        """Island 0 is strong, island 1 weak: 0's champion moves to 1, never the reverse."""
        config = _islands_config(tmp_path, islands=2, interval=4, iterations=16, batch_size=2)
        parts = _parts(factor_graph=FunctionSource(_strong_and_weak), evaluator=window_evaluator)
        summary, records = _run(config, "r", parts)
        moves = [m for r in records for m in r.migrations]
        assert len(moves) == 8
        assert all(m.adopted for m in moves if m.source == 0)
        assert not any(m.adopted for m in moves if m.source == 1)
        first = records[3].migrations
        strong = next(m for m in first if m.source == 0)
        assert strong.iteration == 2
        assert strong.score == pytest.approx(0.102)
        after = [r for r in records[4:6] if r.island == 1]
        parent_id = records[strong.iteration].candidate.candidate_id
        assert after[0].candidate.lineage.parents == (parent_id,)
        state = json.loads((summary.path / "islands.json").read_text())
        assert state["populations"][1]["received"] == 4
        assert state["populations"][1]["champion"]["iteration"] == 14
        assert state["populations"][0]["received"] == 0

    def test_the_run_champion_is_the_best_over_all_islands(self, tmp_path):
        """champion.json holds the best validation score of any island's candidates."""
        config = _islands_config(tmp_path, islands=2, interval=4, iterations=16, batch_size=2)
        parts = _parts(factor_graph=FunctionSource(_strong_and_weak), evaluator=window_evaluator)
        summary, records = _run(config, "r", parts)
        best = max(records, key=lambda r: r.validation["information_ratio"])
        assert summary.champion["iteration"] == best.iteration_num == 14
        assert [r.iteration_num for r in records if r.champion] == list(range(0, 16, 2))

    def test_stratloop_show_lists_each_islands_champion(self, tmp_path):
        """The show lines name every island's champion and the migration counts."""
        summary, _ = _run(_islands_config(tmp_path, iterations=12), "r")
        lines = island_lines(summary.path)
        assert lines[0].startswith("islands: 3, migration every 6 iterations: 6 migrations")
        assert [line.split(":")[0] for line in lines[1:]] == [
            "  island 0",
            "  island 1",
            "  island 2",
        ]
        assert all("champion iteration" in line for line in lines[1:])


class TestDeterminism:
    """Same seed and configuration, same history: workers and resumes change nothing."""

    def test_one_and_two_workers_give_the_same_history(self, tmp_path):
        """K=3 with 1 and with 2 local workers: identical histories, migrations included."""
        one = _islands_config(tmp_path, iterations=24, workers=1)
        two = _islands_config(tmp_path, iterations=24, workers=2)
        _, a = _run(one, "one")
        _, b = _run(two, "two")
        assert _comparable(a) == _comparable(b)
        assert any(r.migrations for r in a)

    def test_resume_after_a_stop_is_exact(self, tmp_path):
        """Stopped at iteration 10 and resumed: the history and islands.json of one run."""
        config = _islands_config(tmp_path, iterations=30, interval=5)
        full, expected = _run(config, "full")

        def stop_at_10(ctx):
            if ctx.iteration == 10 and not ctx.repeats:
                os.kill(os.getpid(), signal.SIGINT)
            return make_candidate(ctx, "factor_graph")

        stopping = _parts(factor_graph=FunctionSource(stop_at_10))
        cut = LoopRunner.create(config, lambda _u: stopping, run_id="cut").run()
        assert cut.status == "interrupted"
        assert cut.iterations == 12
        rundir, stored = open_run(tmp_path / "runs", "cut")
        runner = LoopRunner.resume(rundir, stored, lambda _u: _parts())
        assert runner.notes == ()
        resumed = runner.run()
        got = read_history(resumed.path / "history.jsonl").records
        assert _comparable(got) == _comparable(expected)
        assert (resumed.path / "islands.json").read_text() == (
            full.path / "islands.json"
        ).read_text()

    def test_resume_mid_batch_after_a_torn_line_is_exact(self, tmp_path):
        """A torn last line cut mid-batch: the resumed run equals the uninterrupted one."""
        config = _islands_config(tmp_path, iterations=14, interval=4, generation=MIXED, llm=LLM_ON)
        parts = _parts(llm=llm_source())
        _, expected = _run(config, "full", parts)
        cut, _ = _run(config, "cut", parts)
        history = cut.path / "history.jsonl"
        lines = history.read_bytes().split(b"\n")
        history.write_bytes(b"\n".join(lines[:6]) + b"\n" + lines[6][:25])
        rundir, stored = open_run(tmp_path / "runs", "cut")
        runner = LoopRunner.resume(rundir, stored, lambda _u: parts)
        assert "islands.json was written after iteration 14" in runner.notes[-1]
        got = read_history(runner.run().path / "history.jsonl").records
        assert _comparable(got) == _comparable(expected)

    def test_an_islands_file_that_contradicts_the_history_stops_the_resume(self, tmp_path):
        """islands.json at the history's iteration but with other state is a RunError."""
        summary, _ = _run(_islands_config(tmp_path, iterations=12), "r")
        path = summary.path / "islands.json"
        state = json.loads(path.read_text())
        state["populations"][0]["received"] += 1
        path.write_text(json.dumps(state))
        rundir, stored = open_run(tmp_path / "runs", "r")
        with pytest.raises(RunError, match="does not match the islands the history gives"):
            LoopRunner.resume(rundir, stored, lambda _u: _parts())

    def test_a_history_of_another_island_count_is_refused(self, tmp_path):
        """Replaying a 3-island history under 2 islands is a RunError naming the island."""
        _run(_islands_config(tmp_path, iterations=8), "r")
        rundir, _ = open_run(tmp_path / "runs", "r")
        with pytest.raises(RunError, match=r"search\.islands=2 gives island"):
            LoopRunner.resume(
                rundir, _islands_config(tmp_path, islands=2, iterations=8), lambda _u: _parts()
            )


@pytest.fixture(scope="class")
def local_ray():
    """A two-CPU Ray on this machine whose workers import the test helpers."""
    ray = pytest.importorskip("ray")
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    if saved is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = saved


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
class TestRay:
    """The Ray executor evaluates; the driver generates and commits: the same islands."""

    def test_ray_with_two_workers_gives_the_history_of_one_local_worker(self, tmp_path):
        """K=3 on Ray with 2 workers: the history of one local worker, migrations included."""
        _, local = _run(_islands_config(tmp_path / "l", iterations=24), "l")
        ray_config = _islands_config(tmp_path / "r", iterations=24, executor="ray", workers=2)
        _, remote = _run(ray_config, "r")
        assert _comparable(remote) == _comparable(local)
        assert sum(len(r.migrations) for r in remote) > 0


class TestOneIsland:
    """``islands: 1`` is the search without islands, line for line."""

    @staticmethod
    def _single_population_config(tmp_path, **search: Any) -> StratloopConfig:
        config = loop_config(tmp_path, iterations=40, seed=5, generation=MIXED, llm=LLM_ON)
        return config.model_copy(update={"search": config.search.model_copy(update=search)})

    def test_one_island_gives_the_history_recorded_before_islands(self, tmp_path):
        """The digest of a 40-iteration mixed run equals the one recorded before islands."""
        config = self._single_population_config(tmp_path)
        summary, records = _run(config, "one", _parts(llm=llm_source()))
        text = json.dumps(_comparable(records), sort_keys=True)
        assert hashlib.sha256(text.encode()).hexdigest() == SINGLE_POPULATION_DIGEST
        assert not (summary.path / "islands.json").exists()
        assert "islands" not in summary.metrics
        assert all("island" not in r.as_dict() and "migrations" not in r.as_dict() for r in records)

    def test_the_migration_interval_changes_nothing_with_one_island(self, tmp_path):
        """islands: 1 with any migration_interval: the same history as the defaults."""
        parts = _parts(llm=llm_source())
        _, default = _run(self._single_population_config(tmp_path), "a", parts)
        config = self._single_population_config(tmp_path, islands=1, migration_interval=1)
        _, explicit = _run(config, "b", parts)
        assert _comparable(default) == _comparable(explicit)


def _document(search: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "generation": {"use_factor_graph": True, "innovation_rate": 0},
        "search": dict(search),
    }


_VALIDATORS = [
    Flags(),
    Flags(phase2=False),
]


class TestConfig:
    """search.islands and search.migration_interval: integers within bounds, else clear errors."""

    @given(st.integers(min_value=-(2**40), max_value=2**40))
    def test_islands_bounds(self, value):
        """1..256 is accepted; anything else names the field, the value and the range."""
        for flags in _VALIDATORS:
            if 1 <= value <= 256:
                config = validate_config(_document({"islands": value}), flags=flags)
                assert config.search.islands == value
                continue
            with pytest.raises(ConfigValidationError) as info:
                validate_config(_document({"islands": value}), flags=flags)
            assert "search.islands" in str(info.value)
            assert str(value) in str(info.value)

    @given(st.integers(min_value=-(2**40), max_value=2**40))
    def test_migration_interval_bounds(self, value):
        """1..10,000,000 is accepted; anything else names the field, the value and the range."""
        for flags in _VALIDATORS:
            document = _document({"islands": 4, "migration_interval": value})
            if 1 <= value <= 10_000_000:
                config = validate_config(document, flags=flags)
                assert config.search.migration_interval == value
                continue
            with pytest.raises(ConfigValidationError) as info:
                validate_config(document, flags=flags)
            assert "search.migration_interval" in str(info.value)
            assert str(value) in str(info.value)

    @given(st.one_of(st.booleans(), st.floats(), st.text(max_size=5), st.none()))
    def test_non_integers_are_refused(self, value):
        """A bool, float, string or null is not an island count (no coercion)."""
        for flags in _VALIDATORS:
            with pytest.raises(ConfigValidationError, match=r"search\.islands"):
                validate_config(_document({"islands": value}), flags=flags)

    def test_the_defaults_are_one_island(self):
        """Unset: one island, so existing configurations run as before."""
        config = validate_config(_document({}), flags=Flags())
        assert (config.search.islands, config.search.migration_interval) == (1, 50)


@pytest.mark.slow
class TestCommandLine:
    """A real ``stratloop run`` with islands on the embedded data, then ``stratloop show``."""

    def test_run_with_islands_and_show_its_champions(self, tmp_path, monkeypatch):
        """--set search.islands=3: every island evaluates, show lists their champions."""
        from typer.testing import CliRunner  # noqa: PLC0415 - only this test drives the CLI

        from stratloop.cli import app  # noqa: PLC0415 - only this test drives the CLI

        enter_workdir(tmp_path, monkeypatch, flags=AUDIT_OFF)
        settings = ["--set", "search.islands=3", "--set", "search.migration_interval=6"]
        run = CliRunner().invoke(
            app, ["run", "--no-progress", "--no-tearsheet", "-n", "24", *settings]
        )
        assert run.exit_code == 0, run.output
        (path,) = (tmp_path / "runs").iterdir()
        records = read_history(path / "history.jsonl").records
        assert {r.island for r in records if r.evaluated} == {0, 1, 2}
        assert [r.iteration_num for r in records if r.migrations] == [5, 11, 17, 23]
        show = CliRunner().invoke(app, ["show", path.name])
        assert show.exit_code == 0, show.output
        assert "islands: 3, migration every 6 iterations" in show.output
        for island in range(3):
            assert f"island {island}: 8 iterations" in show.output

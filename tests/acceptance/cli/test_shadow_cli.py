from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stratloop.cli import app
from stratloop.iteration import candidate_from_json

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory with the repository's environments and configs."""
    for name in ("environments", "configs"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


class TestDailyValidation:
    def test_keeps_the_days_report_under_logs(self, workdir):
        """Without --output the report goes to logs/shadow/ENV/DATE.json, with the day's seed."""
        result = CliRunner().invoke(
            app,
            [
                "shadow",
                "daily-validation",
                "--environment",
                "staging",
                "--date",
                "2024-06-03",
                "--iterations",
                "30",
            ],
        )
        assert result.exit_code == 0, result.output
        report = json.loads((workdir / "logs/shadow/staging/2024-06-03.json").read_text())
        assert (report["date"], report["total"], report["passed"]) == ("2024-06-03", 30, True)
        assert report["seed"] != report["run_seed"]
        assert "scripted loopback" in report["generators"]

    def test_a_date_that_is_not_iso_is_a_usage_error(self, workdir):
        """--date takes YYYY-MM-DD only, so a day is never guessed."""
        del workdir
        result = CliRunner().invoke(
            app,
            ["shadow", "daily-validation", "--environment", "staging", "--date", "03/06/2024"],
        )
        assert result.exit_code == 2
        assert "Traceback" not in result.output


class TestProduction:
    def test_guide_command_runs_as_written_and_stops_at_the_cap(self, workdir):
        """`production_shadow_mode.py --percentage 10 --duration-hours 24` ends at its cap."""
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts/production_shadow_mode.py"),
                "--percentage",
                "10",
                "--duration-hours",
                "24",
                "--max-iterations",
                "60",
                "--output",
                "prod_shadow_10pct.json",
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads((workdir / "prod_shadow_10pct.json").read_text())
        assert (report["stopped_by"], report["total"], report["equivalence"]) == (
            "max_iterations",
            60,
            1.0,
        )
        assert report["environment"] == "production"
        assert "scripted loopback" in " ".join(done.stdout.split())

    def test_zero_duration_observes_nothing_and_fails(self, workdir):
        """--duration-hours 0 stops before the first iteration; nothing compared never passes."""
        out = workdir / "p.json"
        result = CliRunner().invoke(
            app,
            [
                "shadow",
                "production",
                "--percentage",
                "50",
                "--duration-hours",
                "0",
                "--output",
                str(out),
            ],
        )
        assert result.exit_code == 1, result.output
        assert "no iteration was compared" in result.output
        report = json.loads(out.read_text())
        assert (report["stopped_by"], report["total"], report["passed"]) == ("duration", 0, False)

    def test_zero_percentage_is_refused(self, workdir):
        """A 0% rollout shadows nothing: a usage error, not a vacuous pass."""
        del workdir
        result = CliRunner().invoke(
            app,
            ["shadow", "production", "--percentage", "0", "--duration-hours", "1"],
        )
        assert result.exit_code == 2
        assert "--percentage" in result.output


def _generate(workdir, *options):
    result = CliRunner().invoke(
        app,
        [
            "shadow",
            "generate-logs",
            "--phase1-2",
            "old.json",
            "--phase3",
            "new.json",
            "--iterations",
            "10",
            *options,
        ],
    )
    old = json.loads((workdir / "old.json").read_text()) if result.exit_code == 0 else None
    new = json.loads((workdir / "new.json").read_text()) if result.exit_code == 0 else None
    return result, old, new


class TestChampion:
    def test_reference_is_the_default_and_both_logs_record_it(self, workdir):
        """Without --champion both logs name the reference champion by strategy id."""
        result, old, new = _generate(workdir)
        assert result.exit_code == 0, result.output
        assert old["champion"] == new["champion"]
        assert old["champion"]["source"] == "reference"
        assert len(old["champion"]["strategy_id"]) == 16
        assert old["champion"]["strategy_id"] in " ".join(result.output.split())

    def test_the_champion_changes_the_factor_graph_candidates(self, workdir):
        """Same seed: mutating the reference gives other candidates than sampling (none)."""
        _result, _old, mutated = _generate(workdir, "--champion", "reference")
        result, old, sampled = _generate(workdir, "--champion", "none")
        assert result.exit_code == 0, result.output
        assert old["champion"] == {
            "source": "none",
            "strategy_id": None,
            "expression": None,
            "run_id": None,
        }
        ids = {r["candidate_id"] for r in mutated["records"]}
        assert ids.isdisjoint(r["candidate_id"] for r in sampled["records"])

    def test_latest_run_without_runs_names_the_runs_dir(self, workdir):
        """--champion latest-run with no run: exit 1 naming the environment's runs dir."""
        result, _old, _new = _generate(workdir, "--champion", "latest-run")
        assert result.exit_code == 1
        text = " ".join(result.output.split())
        assert "runs/local holds none" in text
        assert "Traceback" not in result.output

    def test_latest_run_records_the_runs_champion(self, workdir):
        """The latest run's champion.json is mutated, and its run id recorded."""
        from stratloop.loop.champion import ChampionTracker, Offer  # noqa: PLC0415
        from stratloop.loop.rundir import RunDir, atomic_write_json  # noqa: PLC0415

        rundir = RunDir.create(workdir / "runs/local", "20240102T000000Z-bbbbbb")
        atomic_write_json(rundir.config, {"config": {}})
        tracker = ChampionTracker("sharpe", 1)
        spec = {"expression": "-ts_std(returns, 20)", "portfolio": {"kind": "top_n", "n": 5}}
        candidate = candidate_from_json({"spec": spec, "method": "llm"})
        tracker.offer(Offer(4, candidate, {"sharpe": 1.0}, {"sharpe": 1.0, "n_trades": 3}))
        atomic_write_json(rundir.champion, tracker.as_dict())
        result, _old, new = _generate(workdir, "--champion", "latest-run")
        assert result.exit_code == 0, result.output
        assert new["champion"] == {
            "source": "latest-run",
            "strategy_id": tracker.as_dict()["candidate_id"],
            "expression": "-ts_std(returns, 20)",
            "run_id": "20240102T000000Z-bbbbbb",
        }

    def test_logs_of_different_champions_are_not_compared(self, workdir):
        """`shadow compare` refuses logs whose factor graphs mutated different champions."""
        _generate(workdir, "--champion", "reference")
        (workdir / "reference.json").write_text((workdir / "new.json").read_text())
        result, _old, _new = _generate(workdir, "--champion", "none")
        assert result.exit_code == 0, result.output
        runner = CliRunner()
        same = runner.invoke(app, ["shadow", "compare", "--old", "old.json", "--new", "new.json"])
        assert same.exit_code == 0, same.output
        mixed = runner.invoke(
            app, ["shadow", "compare", "--old", "old.json", "--new", "reference.json"]
        )
        text = " ".join(mixed.output.split())
        assert mixed.exit_code == 2
        assert "champion: none (no champion) vs reference (" in text
        assert "data:" not in text
        assert "Traceback" not in mixed.output

    def test_an_unknown_champion_is_a_usage_error(self, workdir):
        """--champion best: exit 2, the valid choices listed, no traceback."""
        result, _old, _new = _generate(workdir, "--champion", "best")
        assert result.exit_code == 2
        assert all(name in result.output for name in ("none", "reference", "latest-run"))
        assert "Traceback" not in result.output


def _invoke(*argv):
    return CliRunner().invoke(app, list(argv))


class TestPhase12Baseline:
    """Issue 16: the guide's "Compare with Phase 1-2 baseline" in staging."""

    def test_a_baseline_recorded_earlier_in_the_same_environment_compares(
        self, workdir, monkeypatch
    ):
        """A Phase 1-2 baseline from generate-logs under Phase 1-2 flags matches the staging run."""
        del workdir
        monkeypatch.setenv("PHASE3_STRATEGY_PATTERN", "false")
        earlier = _invoke(
            "shadow",
            "generate-logs",
            "--environment",
            "staging",
            "--iterations",
            "20",
            "--phase1-2",
            "baseline_phase1_2.json",
            "--phase3",
            "logs/phase3_staging.json",
        )
        assert earlier.exit_code == 0, earlier.output
        monkeypatch.setenv("PHASE3_STRATEGY_PATTERN", "true")
        run = _invoke(
            "shadow",
            "run",
            "--environment",
            "staging",
            "--iterations",
            "20",
            "--output",
            "staging_shadow_results.json",
        )
        assert run.exit_code == 0, run.output
        compared = _invoke(
            "shadow",
            "compare",
            "--old",
            "baseline_phase1_2.json",
            "--new",
            "staging_shadow_results.json",
            "--threshold",
            "0.95",
        )
        assert compared.exit_code == 0, compared.output
        assert "equivalence 100.00%" in compared.output

    def test_a_baseline_of_another_environment_names_what_differs(self, workdir):
        """A local baseline against a staging run: refused, naming data, config and seed."""
        del workdir
        for environment, target in (("local", "baseline.json"), ("staging", "staging.json")):
            made = _invoke(
                "shadow",
                "generate-logs",
                "--environment",
                environment,
                "--iterations",
                "5",
                "--phase1-2",
                target,
                "--phase3",
                f"other-{target}",
            )
            assert made.exit_code == 0, made.output
        result = _invoke(
            "shadow", "compare", "--old", "baseline.json", "--new", "other-staging.json"
        )
        text = " ".join(result.output.split())
        assert result.exit_code == 2, text
        assert "0.00%" not in text
        assert "config: generation.innovation_rate" in text
        assert "seed schedule: seed 42 vs 7" in text
        assert "Traceback" not in text

    def test_logs_of_different_iterations_name_the_seed_schedule(self, workdir):
        """Ten iterations against twenty: the seed schedule differs, and says how."""
        _generate(workdir)
        (workdir / "ten.json").write_text((workdir / "old.json").read_text())
        _generate(workdir, "--iterations", "20")
        result = _invoke("shadow", "compare", "--old", "ten.json", "--new", "new.json")
        text = " ".join(result.output.split())
        assert result.exit_code == 2, text
        assert "seed schedule: iterations '0-9' vs '0-19'" in text
        assert "config:" not in text

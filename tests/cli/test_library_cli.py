"""``stratloop library list|show|add|remove``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stratloop.cli import app
from stratloop.factors.saved import FactorStore, SavedFactor
from stratloop.loop.rundir import RunDir, atomic_write_json
from stratloop.spec import Strategy, TopN

runner = CliRunner()
SPEC = Strategy(expression="rank(ts_mean(returns, 20))", portfolio=TopN(n=5))


def _run_with_champion(runs, run_id="r1"):
    """A run directory with a champion.json as the loop writes it."""
    rundir = RunDir.create(runs, run_id)
    atomic_write_json(rundir.config, {"run_id": run_id, "config": {}})
    atomic_write_json(rundir.run, {"run_id": run_id, "status": "completed"})
    champion = {
        "iteration": 4,
        "candidate_id": "c",
        "method": "factor_graph",
        "spec": SPEC.model_dump(mode="json"),
        "metric": "information_ratio",
        "score": 0.42,
        "train": {"sharpe": 1.0},
        "validation": {"information_ratio": 0.42},
    }
    atomic_write_json(rundir.champion, champion)
    return run_id


class TestLibraryCommands:
    def test_add_list_show_remove(self, tmp_path):
        """A run's champion is added under a name, listed, shown as JSON and removed."""
        lib = str(tmp_path / "lib")
        run_id = _run_with_champion(tmp_path / "runs")
        common = ["--library", lib]
        added = runner.invoke(
            app,
            [
                "library",
                "add",
                run_id,
                "--name",
                "trend",
                "--runs-dir",
                str(tmp_path / "runs"),
                *common,
            ],
        )
        assert added.exit_code == 0, added.output
        assert "saved: trend" in added.output
        again = runner.invoke(
            app, ["library", "add", run_id, "--runs-dir", str(tmp_path / "runs"), *common]
        )
        assert "already in the library: trend" in again.output
        listed = runner.invoke(app, ["library", "list", *common])
        assert "trend  information_ratio 0.42  run r1" in listed.output
        shown = runner.invoke(app, ["library", "show", "trend", *common])
        data = json.loads(shown.output)
        assert data["run_id"] == "r1"
        assert data["iteration"] == 4
        assert data["spec"]["expression"] == SPEC.expression
        removed = runner.invoke(app, ["library", "remove", "trend", *common])
        assert removed.exit_code == 0
        assert FactorStore(tmp_path / "lib").entries() == ()

    def test_errors_exit_1_with_the_fix(self, tmp_path):
        """An unknown name and a corrupt entry exit 1 saying what to do."""
        lib = tmp_path / "lib"
        FactorStore(lib).add(SavedFactor.create(SPEC, name="trend"))
        unknown = runner.invoke(app, ["library", "show", "trnd", "--library", str(lib)])
        assert unknown.exit_code == 1
        assert "did you mean trend" in unknown.output
        (lib / "trend.json").write_text("{")
        broken = runner.invoke(app, ["library", "list", "--library", str(lib)])
        assert broken.exit_code == 1
        assert "stratloop library remove trend" in broken.output

    def test_no_library_configured(self, tmp_path, monkeypatch):
        """Without --library or library.path the command says how to name one."""
        monkeypatch.chdir(tmp_path)
        result = runner.invoke(app, ["library", "list"])
        assert result.exit_code == 1
        assert "library.path" in result.output

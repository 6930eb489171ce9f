"""``stratloop holdout``: the sealed holdout is opened once, on record, and never during a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from run_helpers import ALL_ON
from stratloop.audit import is_iteration_record, iter_records
from stratloop.cli import app


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A six-iteration factor-graph run on 2005-2022 data: its directory, id and printout."""
    work = tmp_path_factory.mktemp("holdout")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        for key, value in ALL_ON.items():
            patch.setenv(key, value)
        patch.setenv("STRATLOOP_DATA__START_DATE", "2005-01-03")
        result = CliRunner().invoke(app, ["run", "--no-progress", "-n", "6"])
    assert result.exit_code == 0, result.output
    (run_id,) = (p.name for p in (work / "runs").iterdir())
    return work, run_id, result.output


def _invoke(work: Path, *args: str) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        for key, value in ALL_ON.items():
            patch.setenv(key, value)
        result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


class TestDuringTheRun:
    def test_no_holdout_figure_is_recorded_or_printed(self, finished_run):
        """History lines hold train and validation figures only; the printout says sealed."""
        work, run_id, output = finished_run
        lines = (work / "runs" / run_id / "history.jsonl").read_text().splitlines()
        for line in lines:
            record = json.loads(line)
            assert record["schema_version"] == 3
            assert "test" not in record
            assert "holdout" not in line
            if record["status"] == "evaluated":
                assert record["validation"]["benchmark"] is not None
                assert len(record["folds"]) == 4
        assert "holdout: sealed" in output
        assert "verdict (validation):" in output
        assert "equal weight" in output


class TestHoldoutCommand:
    def test_one_look_then_refused_then_again_on_record(self, finished_run):
        """The first look is recorded; a second is refused; --again is recorded as such."""
        work, run_id, _ = finished_run
        code, output = _invoke(work, "holdout", run_id)
        assert code == 0, output
        assert "deflated Sharpe of the validation excess" in output
        assert "PBO" in output
        assert "from equal weight at 5%" in output
        looks = json.loads((work / "runs" / run_id / "holdout.json").read_text())["looks"]
        assert [look["look"] for look in looks] == [1]
        assert looks[0]["holdout"]["benchmark"]["n_days"] == looks[0]["holdout"]["n_days"]

        code, output = _invoke(work, "holdout", run_id)
        assert code == 1
        assert "--again" in output

        code, output = _invoke(work, "holdout", run_id, "--again", "--json")
        assert code == 0, output
        assert json.loads(output)["again"] is True

        records = [
            r
            for _f, _l, r in iter_records(work / "audit")
            if r["run_id"] == run_id and not is_iteration_record(r)
        ]
        assert [(r["outcome"]["look"], r["outcome"]["again"]) for r in records] == [
            (1, False),
            (2, True),
        ]
        assert records[0]["outcome"]["metrics"]["holdout"]["n_days"] > 0
        code, output = _invoke(work, "audit", "verify", "audit")
        assert code == 0, output
        assert "0 violations" in output

        code, output = _invoke(work, "show", run_id)
        assert code == 0, output
        assert "verdict (holdout):" in output
        assert "look 2" in output

"""stratloop repair: a damaged history keeps every valid iteration and the run resumes."""

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loop_helpers import factor_graph_source, hash_evaluator, loop_config
from typer.testing import CliRunner

from run_helpers import AUDIT_OFF as FLAGS
from stratloop.cli import app
from stratloop.errors import RunError
from stratloop.flags import EnvFlagSource
from stratloop.loop.history import plan_repair, read_history
from stratloop.loop.repair import repair_run
from stratloop.loop.rundir import RunDir
from stratloop.loop.runner import LoopParts, LoopRunner, open_run


def _parts():
    return LoopParts(
        factor_graph=factor_graph_source(), evaluator=hash_evaluator, flags=EnvFlagSource(FLAGS)
    )


def _completed(tmp_path, iterations=12):
    config = loop_config(tmp_path, iterations=iterations)
    LoopRunner.create(config, lambda _u: _parts(), run_id="r").run()
    return RunDir(tmp_path / "runs" / "r")


def _interleave(rundir):
    """What two writers on one run left: duplicates, out-of-sequence and torn lines."""
    lines = rundir.history.read_bytes().splitlines(keepends=True)
    damaged = [
        *lines[:8],
        lines[4],
        lines[8],
        b'{"iteration_num": 9, "trunc\n',
        lines[9],
        lines[5],
        lines[11],
        lines[10],
        lines[11],
        lines[3][:40],
    ]
    rundir.history.write_bytes(b"".join(damaged))
    return lines


class TestPlanRepair:
    def test_first_record_of_each_iteration_wins_in_file_order(self, tmp_path):
        """Kept: 0..11 in order; dropped: the duplicates, the broken line, the torn tail."""
        rundir = _completed(tmp_path)
        original = _interleave(rundir)
        plan = plan_repair(rundir.history)
        assert plan.kept == tuple(original)
        assert [(d.line, d.iteration) for d in plan.dropped] == [
            (9, 4),
            (11, None),
            (13, 5),
            (14, 11),
            (17, None),
        ]
        reasons = [d.reason for d in plan.dropped]
        assert "a second record of iteration 4 (kept: line 5)" in reasons[0]
        assert "not valid JSON" in reasons[1]
        assert "out of sequence" in reasons[3]
        assert "no newline" in reasons[4]


class TestRepairRun:
    def test_a_damaged_run_is_repaired_reported_and_resumable(self, tmp_path):
        """Repair keeps 0..11, keeps the damaged file, rebuilds champion.json, and resume works."""
        rundir = _completed(tmp_path)
        champion = json.loads(rundir.champion.read_text())
        original = _interleave(rundir)
        damaged = rundir.history.read_bytes()
        with pytest.raises(RunError):
            read_history(rundir.history)

        report = repair_run(tmp_path / "runs", "r")

        assert report.kept == 12
        assert len(report.dropped) == 5
        assert report.rewritten == ()
        assert rundir.history.read_bytes() == b"".join(original)
        assert report.backup.read_bytes() == damaged
        recorded = json.loads(report.report.read_text())
        assert [d["line"] for d in recorded["dropped"]] == [9, 11, 13, 14, 17]
        assert json.loads(rundir.champion.read_text()) == champion
        run = json.loads(rundir.run.read_text())
        assert run["status"] == "stopped (resumable)"
        assert run["iterations"] == 12
        assert "repaired" in run["message"]

        rundir, stored = open_run(tmp_path / "runs", "r")
        longer = stored.model_copy(
            update={"loop": stored.loop.model_copy(update={"iterations": 16})}
        )
        summary = LoopRunner.resume(rundir, longer, lambda _u: _parts()).run()
        assert summary.status == "completed"
        assert len(read_history(rundir.history).records) == 16

    def test_an_intact_history_is_left_alone(self, tmp_path):
        """Nothing to repair: no file is written or renamed."""
        rundir = _completed(tmp_path, iterations=4)
        before = sorted(p.name for p in rundir.root.iterdir())
        report = repair_run(tmp_path / "runs", "r")
        assert not report.changed
        assert report.kept == 4
        assert sorted(p.name for p in rundir.root.iterdir()) == before

    def test_a_champion_flag_the_rule_contradicts_is_rewritten_and_reported(self, tmp_path):
        """A second writer's champion decision is set to what the rule gives over the kept lines."""
        rundir = _completed(tmp_path, iterations=8)
        lines = rundir.history.read_bytes().splitlines(keepends=True)
        record = json.loads(lines[6])
        record["champion"] = not record["champion"]
        lines[6] = (json.dumps(record, sort_keys=True) + "\n").encode()
        rundir.history.write_bytes(b"".join(lines))

        report = repair_run(tmp_path / "runs", "r")

        assert [(r.line, r.iteration, r.champion) for r in report.rewritten] == [
            (7, 6, not record["champion"])
        ]
        assert len(read_history(rundir.history).records) == 8
        rundir, stored = open_run(tmp_path / "runs", "r")
        LoopRunner.resume(rundir, stored, lambda _u: _parts()).run()

    def test_repair_refuses_while_a_writer_holds_the_run(self, tmp_path):
        """A live writer (its lock on history.jsonl) makes repair a RunError; nothing changes."""
        rundir = _completed(tmp_path, iterations=4)
        before = rundir.history.read_bytes()
        held = RunDir(rundir.root).lock(resume=True)
        try:
            with pytest.raises(RunError, match="another process"):
                repair_run(tmp_path / "runs", "r")
        finally:
            held.release()
        assert rundir.history.read_bytes() == before


class TestRepairCommand:
    def test_the_command_prints_what_it_dropped_and_how_to_resume(self, tmp_path):
        """`stratloop repair RUN_ID` lists each dropped line with its reason, exit 0."""
        rundir = _completed(tmp_path)
        _interleave(rundir)
        result = CliRunner().invoke(app, ["repair", "r", "--runs-dir", str(tmp_path / "runs")])
        assert result.exit_code == 0, result.output
        assert "kept iterations 0-11 (12); dropped 5 line(s)" in result.output
        assert "dropped line 9: a second record of iteration 4" in result.output
        assert "resume with: stratloop run --resume r" in result.output

    def test_an_unknown_run_is_a_clear_error(self, tmp_path):
        """No traceback: the error names the run and the runs directory."""
        result = CliRunner().invoke(app, ["repair", "nope", "--runs-dir", str(tmp_path)])
        assert result.exit_code == 1
        assert "no run 'nope'" in result.output
        assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def history_lines(tmp_path_factory):
    """The lines of a real eight-iteration history."""
    root = tmp_path_factory.mktemp("property")
    rundir = _completed(root, iterations=8)
    return tuple(rundir.history.read_bytes().splitlines(keepends=True))


_NOISE = st.sampled_from(
    [b"\n", b"{}\n", b"[1, 2]\n", b'{"iteration_num": 3}\n', b"not json\n", b"\xff\xfe\n"]
)


class TestPlanRepairProperties:
    @settings(max_examples=60, deadline=None)
    @given(data=st.data())
    def test_every_line_is_kept_or_dropped_and_the_kept_ones_count_up(self, history_lines, data):
        """Whatever the damage, kept lines are iterations 0, 1, 2, ... and nothing is lost."""
        picks = data.draw(
            st.lists(
                st.one_of(
                    st.integers(0, len(history_lines) - 1).map(history_lines.__getitem__), _NOISE
                ),
                max_size=24,
            )
        )
        tail = data.draw(st.sampled_from([b"", b'{"iteration_num": 0, "tr', history_lines[0][:-1]]))
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "history.jsonl"
            path.write_bytes(b"".join(picks) + tail)
            plan = plan_repair(path)
        assert [r.iteration_num for r in plan.records] == list(range(len(plan.kept)))
        assert len(plan.kept) + len(plan.dropped) == len(picks) + (1 if tail else 0)
        assert set(plan.kept) <= set(history_lines)

    @settings(max_examples=60, deadline=None)
    @given(data=st.data())
    def test_noise_and_repeats_around_an_intact_history_leave_it_whole(self, history_lines, data):
        """Every original line in order, with anything inserted after it: all of them are kept."""
        damaged = []
        for line in history_lines:
            damaged.append(line)
            damaged.extend(
                data.draw(
                    st.lists(
                        st.one_of(
                            _NOISE, st.sampled_from(history_lines[: history_lines.index(line) + 1])
                        ),
                        max_size=3,
                    )
                )
            )
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "history.jsonl"
            path.write_bytes(b"".join(damaged))
            assert plan_repair(path).kept == history_lines

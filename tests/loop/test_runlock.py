"""One writer per run: the lock on history.jsonl, and the ownership check before each commit."""

import json
import os

import pytest
from loop_helpers import factor_graph_source, hash_evaluator, loop_config

from run_helpers import AUDIT_OFF as FLAGS
from stratloop.errors import RunError, RunOwnershipError
from stratloop.flags import EnvFlagSource
from stratloop.generation.strategies import FunctionSource
from stratloop.loop.audit import RunAudit
from stratloop.loop.history import read_history
from stratloop.loop.inspect import describe_run
from stratloop.loop.rundir import RunDir
from stratloop.loop.runlock import RunLock, Writer, is_held
from stratloop.loop.runner import LoopParts, LoopRunner, open_run


def _parts(factor_graph=None, flags=FLAGS, audit=None):
    return LoopParts(
        factor_graph=factor_graph or factor_graph_source(),
        evaluator=hash_evaluator,
        flags=EnvFlagSource(flags),
        audit=audit,
    )


def _run_json(rundir, writer):
    rundir.run.write_text(json.dumps({"run_id": rundir.run_id, "writer": writer.as_json()}))


class TestRunLock:
    def test_the_lock_survives_the_deletion_of_every_lock_file(self, tmp_path):
        """With .lock files gone, a second writer still contends for history.jsonl and loses."""
        rundir = RunDir.create(tmp_path, "r")
        held = rundir.lock()
        _run_json(rundir, held.writer)
        for stray in rundir.root.glob("*lock*"):
            stray.unlink()
        with pytest.raises(RunError, match=f"another process \\(pid {os.getpid()} on"):
            RunDir(rundir.root).lock(resume=True)
        assert is_held(rundir.history)
        held.release()
        assert not is_held(rundir.history)
        RunDir(rundir.root).lock(resume=True).release()

    def test_the_owner_verifies_while_nothing_changed(self, tmp_path):
        """Verify passes while the locked file is the history and run.json names this writer."""
        rundir = RunDir.create(tmp_path, "r")
        lock = rundir.lock()
        _run_json(rundir, lock.writer)
        lock.verify()
        lock.release()

    def test_a_replaced_history_is_detected_and_names_the_new_writer(self, tmp_path):
        """Deleting history.jsonl lets another process lock a new one: the old writer stops."""
        rundir = RunDir.create(tmp_path, "r")
        first = rundir.lock()
        _run_json(rundir, first.writer)
        rundir.history.unlink()
        second = RunDir(rundir.root).lock()
        other = Writer(4242, "elsewhere", "feedface", "2026-01-01T00:00:00Z")
        _run_json(rundir, other)
        with pytest.raises(RunOwnershipError, match="replaced") as caught:
            first.verify()
        assert "pid 4242 on elsewhere" in str(caught.value)
        assert "stratloop repair r" in str(caught.value)
        first.release()
        second.release()

    def test_a_deleted_history_is_detected(self, tmp_path):
        """The owner notices its history file is gone before it commits into the void."""
        rundir = RunDir.create(tmp_path, "r")
        lock = rundir.lock()
        _run_json(rundir, lock.writer)
        rundir.history.unlink()
        with pytest.raises(RunOwnershipError, match="deleted"):
            lock.verify()
        lock.release()

    def test_run_json_naming_another_writer_is_detected(self, tmp_path):
        """A writer whose token is no longer in run.json has lost the run."""
        rundir = RunDir.create(tmp_path, "r")
        lock = rundir.lock()
        _run_json(rundir, Writer(7, "h", "other", "t"))
        with pytest.raises(RunOwnershipError, match="pid 7 on h"):
            lock.verify()
        lock.release()

    def test_a_resume_never_restarts_a_run_whose_history_vanished(self, tmp_path):
        """A missing history after committed iterations is an error, not a silent fresh start."""
        rundir = RunDir.create(tmp_path, "r")
        rundir.run.write_text(json.dumps({"iterations": 8}))
        with pytest.raises(RunError, match=r"no history\.jsonl although it committed"):
            rundir.lock(resume=True)
        assert not rundir.history.exists()

    def test_the_lock_is_an_flock_on_the_history_inode(self, tmp_path):
        """Two descriptors of the same file in one process exclude each other, too."""
        history = tmp_path / "history.jsonl"
        lock = RunLock.acquire("x", history, tmp_path / "run.json")
        with pytest.raises(RunError, match="holds the lock"):
            RunLock.acquire("x", history, tmp_path / "run.json")
        lock.release()
        lock.release()


class TestOwnershipInTheLoop:
    def test_a_writer_that_lost_the_run_stops_without_committing_or_touching_run_json(
        self, tmp_path
    ):
        """Mid-run, history.jsonl is replaced and a new writer claims run.json: the loop stops."""
        config = loop_config(tmp_path, iterations=12)
        usurper = {}

        def hostile(ctx):
            if ctx.iteration == 5 and not usurper:
                rundir = RunDir(tmp_path / "runs" / "r")
                kept = rundir.history.read_bytes()
                rundir.history.unlink()
                usurper["lock"] = lock = RunDir(rundir.root).lock()
                os.write(lock.fd, kept)
                payload = json.loads(rundir.run.read_text())
                payload["writer"] = Writer(99, "other-host", "beef", "now").as_json()
                rundir.run.write_text(json.dumps(payload))
            return factor_graph_source().propose(ctx)

        runner = LoopRunner.create(config, lambda _u: _parts(FunctionSource(hostile)), run_id="r")
        with pytest.raises(RunOwnershipError, match="pid 99 on other-host"):
            runner.run()
        usurper["lock"].release()
        rundir = RunDir(tmp_path / "runs" / "r")
        assert len(read_history(rundir.history).records) == 4
        assert json.loads(rundir.run.read_text())["writer"]["pid"] == 99

    def test_a_refused_writer_never_builds_its_parts_nor_opens_the_audit_trail(self, tmp_path):
        """The run lock comes first: a second writer is refused before it opens the audit trail."""
        config = loop_config(tmp_path, iterations=4)
        config = config.model_copy(
            update={"audit": config.audit.model_copy(update={"path": str(tmp_path / "a.jsonl")})}
        )
        on = {**FLAGS, "PHASE4_AUDIT_TRAIL": "true"}

        def audited(_usage):
            return _parts(flags=on, audit=RunAudit(config, run_id="r", instance_id="i"))

        LoopRunner.create(config, audited, run_id="r").run()
        rundir, stored = open_run(tmp_path / "runs", "r")
        live = RunDir(rundir.root).lock(resume=True)
        for stray in tmp_path.rglob("*.lock"):
            stray.unlink()
        trail = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        built = []
        try:
            with pytest.raises(RunError, match="another process"):
                LoopRunner.resume(rundir, stored, lambda u: built.append(u) or audited(u))
        finally:
            live.release()
        assert built == []
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == trail

    def test_runs_shows_a_live_run_as_running_and_a_dead_one_as_resumable(self, tmp_path):
        """describe_run asks the history lock whether a 'running' run has a live writer."""
        config = loop_config(tmp_path, iterations=4)
        LoopRunner.create(config, lambda _u: _parts(), run_id="r").run()
        rundir = RunDir(tmp_path / "runs" / "r")
        payload = json.loads(rundir.run.read_text())
        rundir.run.write_text(json.dumps({**payload, "status": "running"}))
        assert describe_run(tmp_path / "runs", "r").status == "stopped (resumable)"
        held = rundir.lock(resume=True)
        assert describe_run(tmp_path / "runs", "r").status == "running"
        held.release()

    def test_a_resumed_run_names_its_writer_in_run_json(self, tmp_path):
        """run.json's writer is the process that holds the run now."""
        config = loop_config(tmp_path, iterations=4)
        LoopRunner.create(config, lambda _u: _parts(), run_id="r").run()
        rundir, stored = open_run(tmp_path / "runs", "r")
        stored = stored.model_copy(
            update={"loop": stored.loop.model_copy(update={"iterations": 8})}
        )
        runner = LoopRunner.resume(rundir, stored, lambda _u: _parts())
        token = runner._lock.writer.token
        runner.run()
        writer = json.loads(rundir.run.read_text())["writer"]
        assert writer["token"] == token
        assert writer["pid"] == os.getpid()
